"""Talking to a live cluster: client, errors, discovery, OpenAPI, cache, apply, prune, wait."""
