"""Names Tether writes into the cluster, defined once: API group, labels, annotations.

Every module that needs one of these imports it from here, so a rename is one
edit. Plain strings only; no imports.
"""

from __future__ import annotations

GROUP = "tether.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# On managed objects.
APP_LABEL = "tether.dev/app"
TRACKING_ANNOTATION = "tether.dev/tracking-id"
# Stamped on every hook object a sync creates: the id of the operation that ran it, so a
# resumed operation recognises its own hook runs and never starts them twice.
OPERATION_ANNOTATION = "tether.dev/operation"
SYNC_OPTION_ANNOTATIONS = ("tether.dev/sync-options", "argocd.argoproj.io/sync-options")

# On Applications: requests to the operator (set to any new value), and its finalizer.
SYNC_ANNOTATION = "tether.dev/sync"  # sync now (what ``tether app sync`` does)
REFRESH_ANNOTATION = "tether.dev/refresh"  # re-read Git and re-compare now
FINALIZER = "tether.dev/finalizer"

# Write-back: the commit message when spec.writeBack.message (or --message) is not set.
WRITE_BACK_MESSAGE = "Write back {namespace}/{app} from the cluster\n\n{changes}"
WRITE_BACK_AUTHOR = ("Tether", "tether@localhost")
