"""Certificates made for the local control plane chain to their CA and say who they are."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tether.localcluster import pki


def test_server_certificate_is_signed_by_the_ca_and_names_loopback() -> None:
    ca = pki.new_ca()
    pair = ca.issue_server("kube-apiserver", ["localhost", "kubernetes.default.svc"], ["127.0.0.1"])
    cert = x509.load_pem_x509_certificate(pair.cert_pem)

    cert.verify_directly_issued_by(ca.cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost", "kubernetes.default.svc"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_client_certificate_carries_user_as_cn_and_groups_as_o() -> None:
    ca = pki.new_ca()
    cert = x509.load_pem_x509_certificate(
        ca.issue_client("alice", ("system:masters", "devs")).cert_pem
    )

    cert.verify_directly_issued_by(ca.cert)
    subject = cert.subject
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["alice"]
    orgs = [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters", "devs"]
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is False


def test_a_foreign_ca_does_not_verify_our_certificates() -> None:
    ours, theirs = pki.new_ca(), pki.new_ca()
    cert = x509.load_pem_x509_certificate(ours.issue_client("bob").cert_pem)
    with pytest.raises((InvalidSignature, ValueError)):
        cert.verify_directly_issued_by(theirs.cert)


def test_private_keys_are_written_owner_only_and_ca_round_trips(tmp_path: Path) -> None:
    ca = pki.new_ca()
    cert_path, key_path = ca.pair.write(tmp_path, "ca")
    sa_key, sa_pub = pki.write_service_account_keys(tmp_path)

    for private in (key_path, sa_key):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PUBLIC KEY" in sa_pub.read_bytes()
    again = pki.load_ca(cert_path, key_path)
    issued = x509.load_pem_x509_certificate(again.issue_client("carol").cert_pem)
    issued.verify_directly_issued_by(ca.cert)
