"""Executing sync plans against a cluster: the executor and the operation state."""
