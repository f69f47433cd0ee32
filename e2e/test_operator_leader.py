"""Lease-based leader election against the real API server: one holder at a time,
takeover after release or expiry."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tether.controller.leader import LeaderElector, LeaseConfig
from tether.kube.client import KubeClient

pytestmark = pytest.mark.cluster


async def test_only_one_replica_leads_and_the_other_takes_over(
    cluster: Any, namespace: str
) -> None:
    client = await KubeClient.connect(str(cluster.kubeconfig))
    try:
        first = LeaderElector(
            client, LeaseConfig(namespace, identity="a", lease_seconds=2, retry_seconds=0.2)
        )
        second = LeaderElector(
            client, LeaseConfig(namespace, identity="b", lease_seconds=2, retry_seconds=0.2)
        )
        await asyncio.wait_for(first.acquire(), 10)
        assert first.is_leader
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(second.acquire(), 1.0)
        assert not second.is_leader
        await first.release()
        await asyncio.wait_for(second.acquire(), 10)
        assert second.is_leader
        # 'b' stops renewing (crashed): 'a' gets the Lease once it expires
        await asyncio.wait_for(first.acquire(), 10)
        assert first.is_leader
    finally:
        await client.close()
