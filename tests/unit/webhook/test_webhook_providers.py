"""Every webhook provider: good, bad and missing signatures, and what a delivery says.

The bodies are shaped as each provider documents them (only the fields Tether
reads, plus a few it must ignore). Signatures are computed here with hmac, the
way the providers compute them, not with Tether's own ``sign``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import pytest

from tether.webhook import (
    Ignored,
    PayloadError,
    Ping,
    Provider,
    Push,
    PushedRef,
    RefKind,
    Verdict,
    parse,
    verify,
)
from tether.webhook.providers import candidate_urls, provider_of, signature_present

SECRET = b"s3cret-webhook-key"
OTHER = b"another-key-entirely"


def hexmac(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def github_body(ref: str = "refs/heads/main") -> bytes:
    return json.dumps(
        {
            "ref": ref,
            "before": "0" * 40,
            "after": "a" * 40,
            "repository": {
                "full_name": "org/repo",
                "clone_url": "https://github.com/org/repo.git",
                "ssh_url": "git@github.com:org/repo.git",
                "html_url": "https://github.com/org/repo",
            },
            "pusher": {"name": "someone"},
        }
    ).encode()


def gitlab_body(kind: str = "push", ref: str = "refs/heads/main") -> bytes:
    return json.dumps(
        {
            "object_kind": kind,
            "ref": ref,
            "project": {
                "git_http_url": "https://gitlab.example/group/app.git",
                "git_ssh_url": "git@gitlab.example:group/app.git",
                "web_url": "https://gitlab.example/group/app",
            },
        }
    ).encode()


def gitea_body() -> bytes:
    return json.dumps(
        {
            "ref": "refs/heads/develop",
            "repository": {
                "clone_url": "https://gitea.example/team/app.git",
                "ssh_url": "git@gitea.example:team/app.git",
                "html_url": "https://gitea.example/team/app",
            },
        }
    ).encode()


def bitbucket_body() -> bytes:
    return json.dumps(
        {
            "repository": {
                "full_name": "team/app",
                "links": {"html": {"href": "https://bitbucket.org/team/app"}},
            },
            "push": {
                "changes": [
                    {"new": {"type": "branch", "name": "main"}, "old": None},
                    {"new": {"type": "tag", "name": "v1.2.0"}, "old": None},
                    {"new": None, "old": {"type": "branch", "name": "gone"}},
                ]
            },
        }
    ).encode()


def bitbucket_server_body() -> bytes:
    return json.dumps(
        {
            "eventKey": "repo:refs_changed",
            "repository": {
                "slug": "app",
                "links": {
                    "clone": [
                        {"href": "ssh://git@bb.example:7999/prj/app.git", "name": "ssh"},
                        {"href": "https://bb.example/scm/prj/app.git", "name": "http"},
                    ]
                },
            },
            "changes": [
                {
                    "ref": {"id": "refs/heads/main", "displayId": "main", "type": "BRANCH"},
                    "refId": "refs/heads/main",
                    "type": "UPDATE",
                }
            ],
        }
    ).encode()


def generic_body() -> bytes:
    return json.dumps({"url": "https://git.example/org/repo.git", "ref": "main"}).encode()


def registry_body(action: str = "push") -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "id": "e1",
                    "action": action,
                    "target": {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": "sha256:" + "b" * 64,
                        "repository": "charts/web",
                        "url": "https://registry.example:5000/v2/charts/web/manifests/sha256:x",
                        "tag": "1.4.0",
                    },
                    "request": {"host": "registry.example:5000", "method": "PUT"},
                }
            ]
        }
    ).encode()


@dataclass(frozen=True)
class Case:
    provider: Provider
    body: bytes
    event: dict[str, str]  # the event headers
    good: dict[str, str]  # the signature header(s) made with SECRET
    bad: dict[str, str]  # the same header(s) made with another secret
    urls: tuple[str, ...]
    refs: tuple[PushedRef, ...]


def _hub(name: str, body: bytes, secret: bytes) -> dict[str, str]:
    return {name: "sha256=" + hexmac(secret, body)}


def cases() -> list[Case]:
    gh, gl, gt, bb, bbs, gen, reg = (
        github_body(),
        gitlab_body(),
        gitea_body(),
        bitbucket_body(),
        bitbucket_server_body(),
        generic_body(),
        registry_body(),
    )
    main = PushedRef(RefKind.BRANCH, "main")
    return [
        Case(
            Provider.GITHUB, gh, {"x-github-event": "push"},
            _hub("x-hub-signature-256", gh, SECRET), _hub("x-hub-signature-256", gh, OTHER),
            ("https://github.com/org/repo.git", "git@github.com:org/repo.git",
             "https://github.com/org/repo"),
            (main,),
        ),
        Case(
            Provider.GITLAB, gl, {"x-gitlab-event": "Push Hook"},
            {"x-gitlab-token": SECRET.decode()}, {"x-gitlab-token": OTHER.decode()},
            ("https://gitlab.example/group/app.git", "git@gitlab.example:group/app.git",
             "https://gitlab.example/group/app"),
            (main,),
        ),
        Case(
            Provider.GITEA, gt, {"x-gitea-event": "push"},
            {"x-gitea-signature": hexmac(SECRET, gt)}, {"x-gitea-signature": hexmac(OTHER, gt)},
            ("https://gitea.example/team/app.git", "git@gitea.example:team/app.git",
             "https://gitea.example/team/app"),
            (PushedRef(RefKind.BRANCH, "develop"),),
        ),
        Case(  # Forgejo: the same payload under renamed headers
            Provider.GITEA, gt, {"x-forgejo-event": "push"},
            {"x-forgejo-signature": hexmac(SECRET, gt)},
            {"x-forgejo-signature": hexmac(OTHER, gt)},
            ("https://gitea.example/team/app.git", "git@gitea.example:team/app.git",
             "https://gitea.example/team/app"),
            (PushedRef(RefKind.BRANCH, "develop"),),
        ),
        Case(
            Provider.BITBUCKET, bb, {"x-event-key": "repo:push"},
            _hub("x-hub-signature", bb, SECRET), _hub("x-hub-signature", bb, OTHER),
            ("https://bitbucket.org/team/app", "https://bitbucket.org/team/app.git",
             "git@bitbucket.org:team/app.git"),
            (main, PushedRef(RefKind.TAG, "v1.2.0"), PushedRef(RefKind.BRANCH, "gone")),
        ),
        Case(
            Provider.BITBUCKET_SERVER, bbs, {"x-event-key": "repo:refs_changed"},
            _hub("x-hub-signature", bbs, SECRET), _hub("x-hub-signature", bbs, OTHER),
            ("ssh://git@bb.example:7999/prj/app.git", "https://bb.example/scm/prj/app.git"),
            (main,),
        ),
        Case(
            Provider.GENERIC, gen, {},
            _hub("x-tether-signature", gen, SECRET), _hub("x-tether-signature", gen, OTHER),
            ("https://git.example/org/repo.git",),
            (PushedRef(RefKind.NAME, "main"),),
        ),
        Case(
            Provider.REGISTRY, reg,
            {"content-type": "application/vnd.docker.distribution.events.v2+json"},
            {"authorization": "Bearer " + SECRET.decode()},
            {"authorization": "Bearer " + OTHER.decode()},
            ("oci://registry.example:5000/charts/web",),
            (PushedRef(RefKind.TAG, "1.4.0"), PushedRef(RefKind.DIGEST, "sha256:" + "b" * 64)),
        ),
    ]  # fmt: skip


CASES = cases()
IDS = [f"{c.provider.value}-{next(iter(c.good))}" for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_good_signature_verifies_and_the_push_is_read(case: Case) -> None:
    headers = {**case.event, **case.good}
    assert verify(case.provider, headers, case.body, SECRET) is Verdict.OK
    assert signature_present(case.provider, headers)
    delivery = parse(case.provider, headers, case.body)
    assert delivery == Push(case.urls, case.refs)
    assert candidate_urls(case.provider, case.body) == case.urls


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_signature_made_with_another_secret_is_bad(case: Case) -> None:
    headers = {**case.event, **case.bad}
    assert verify(case.provider, headers, case.body, SECRET) is Verdict.BAD


# GitLab and the registry send a token, not a signature over the body.
SIGNED = [c for c in CASES if c.provider not in (Provider.GITLAB, Provider.REGISTRY)]


@pytest.mark.parametrize(
    "case", SIGNED, ids=[f"{c.provider.value}-{next(iter(c.good))}" for c in SIGNED]
)
def test_a_good_signature_over_another_body_is_bad(case: Case) -> None:
    headers = {**case.event, **case.good}
    assert verify(case.provider, headers, case.body + b" ", SECRET) is Verdict.BAD


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_missing_signature_is_missing_never_ok(case: Case) -> None:
    assert verify(case.provider, case.event, case.body, SECRET) is Verdict.MISSING
    assert not signature_present(case.provider, case.event)
    assert verify(case.provider, {**case.event, **case.good}, case.body, b"") is Verdict.BAD


@pytest.mark.parametrize(
    "value",
    [
        "sha1=" + hexmac(SECRET, b"x"),  # another algorithm
        hexmac(SECRET, b"x"),  # GitHub always prefixes
        "sha256=",
        "sha256=zz",
    ],
)
def test_malformed_github_signatures_are_bad(value: str) -> None:
    assert verify(Provider.GITHUB, {"x-hub-signature-256": value}, b"x", SECRET) is Verdict.BAD


def test_registry_accepts_basic_auth_with_the_secret_as_password() -> None:
    good = "Basic " + base64.b64encode(b"registry:" + SECRET).decode()
    bad = "Basic " + base64.b64encode(b"registry:" + OTHER).decode()
    body = registry_body()
    assert verify(Provider.REGISTRY, {"authorization": good}, body, SECRET) is Verdict.OK
    assert verify(Provider.REGISTRY, {"authorization": bad}, body, SECRET) is Verdict.BAD
    for junk in ("Basic !!!", "Basic " + base64.b64encode(SECRET).decode(), "Token abc"):
        assert verify(Provider.REGISTRY, {"authorization": junk}, body, SECRET) is Verdict.BAD


@pytest.mark.parametrize(
    ("provider", "headers", "body", "expected"),
    [
        (Provider.GITHUB, {"x-github-event": "ping"}, b'{"zen": "hi"}', Ping()),
        (Provider.BITBUCKET_SERVER, {"x-event-key": "diagnostics:ping"}, b"{}", Ping()),
        (
            Provider.GITHUB,
            {"x-github-event": "issues"},
            b"{}",
            Ignored("GitHub event 'issues' moves no ref"),
        ),
        (
            Provider.GITLAB,
            {"x-gitlab-event": "Merge Request Hook"},
            b'{"object_kind": "merge_request"}',
            Ignored("GitLab event 'Merge Request Hook' moves no ref"),
        ),
        (
            Provider.BITBUCKET,
            {"x-event-key": "pullrequest:created"},
            b"{}",
            Ignored("Bitbucket event 'pullrequest:created' moves no ref"),
        ),
        (
            Provider.REGISTRY,
            {},
            registry_body("pull"),
            Ignored("no tagged manifest push in the notification"),
        ),
    ],
)
def test_pings_and_other_events(
    provider: Provider, headers: dict[str, str], body: bytes, expected: Any
) -> None:
    assert parse(provider, headers, body) == expected


def test_gitlab_tag_push_is_a_tag() -> None:
    body = gitlab_body("tag_push", "refs/tags/v2.0.0")
    delivery = parse(Provider.GITLAB, {"x-gitlab-event": "Tag Push Hook"}, body)
    assert isinstance(delivery, Push)
    assert delivery.refs == (PushedRef(RefKind.TAG, "v2.0.0"),)


@pytest.mark.parametrize(
    ("provider", "headers", "body", "words"),
    [
        (Provider.GITHUB, {"x-github-event": "push"}, b"not json", "not JSON"),
        (Provider.GITHUB, {"x-github-event": "push"}, b"[1]", "not a JSON object"),
        (Provider.GITHUB, {"x-github-event": "push"}, b'{"ref": "refs/heads/x"}', "repository"),
        (
            Provider.GITHUB,
            {"x-github-event": "push"},
            b'{"ref": "x", "repository": {}}',
            "names no repository URL",
        ),
        (Provider.GENERIC, {}, b'{"ref": "main"}', '"url"'),
        (Provider.GENERIC, {}, b'{"url": "https://h/r"}', "names no ref"),
        (Provider.REGISTRY, {}, b'{"event": []}', "envelope"),
        (Provider.BITBUCKET, {"x-event-key": "repo:push"}, b'{"repository": {}, "push": {}}',
         "no changed branch"),
    ],
)  # fmt: skip
def test_bodies_the_provider_would_not_send_are_payload_errors(
    provider: Provider, headers: dict[str, str], body: bytes, words: str
) -> None:
    with pytest.raises(PayloadError, match=words):
        parse(provider, headers, body)


def test_candidate_urls_never_fail() -> None:
    assert candidate_urls(Provider.GITHUB, b"\xff\xfe") == ()
    assert candidate_urls(Provider.REGISTRY, b'{"events": "x"}') == ()
    # A non-push event still names its repository, so its own secret can verify it.
    mr = b'{"object_kind": "merge_request", "project": {"git_http_url": "https://h/g/a.git"}}'
    assert candidate_urls(Provider.GITLAB, mr) == ("https://h/g/a.git",)


def test_provider_paths() -> None:
    assert provider_of("github") is Provider.GITHUB
    assert provider_of("forgejo") is Provider.GITEA
    assert provider_of("bitbucket-server") is Provider.BITBUCKET_SERVER
    assert provider_of("GitHub") is None and provider_of("") is None


def test_githubs_form_encoded_payload_is_read_and_signed_as_sent() -> None:
    from urllib.parse import urlencode

    body = urlencode({"payload": github_body().decode()}).encode()
    headers = {"x-github-event": "push", "x-hub-signature-256": "sha256=" + hexmac(SECRET, body)}
    assert verify(Provider.GITHUB, headers, body, SECRET) is Verdict.OK
    delivery = parse(Provider.GITHUB, headers, body)
    assert isinstance(delivery, Push) and delivery.refs == (PushedRef(RefKind.BRANCH, "main"),)
    assert candidate_urls(Provider.GITHUB, body)[0] == "https://github.com/org/repo.git"
