"""Tether: a GitOps engine for Kubernetes.

The package splits into a pure core (``manifests``, ``diff``, ``health``, ``plan``,
``identity``) that takes data and returns data, and an I/O shell (``git``, ``kube``,
``sync``, ``controller``, ``cli``, ``localcluster``) around it.
"""

__version__ = "0.1.0"
