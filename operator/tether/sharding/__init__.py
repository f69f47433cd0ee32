"""Sharding: several operator replicas share the Applications.

``ring`` is the pure consistent-hash ring (app uid -> member); ``membership``
keeps one Lease per replica and reports the live members; ``claims`` is the
fence on each Application (which shard may run its operations); ``shard`` ties
them into the one object the operator asks "is this app mine, may I act on it".
"""
