"""The root of Tether's error tree, and where each layer's root hangs.

Every error Tether raises on purpose derives from ``TetherError``; each layer
has one documented root below it, and errors cross a layer boundary only after
being translated once into the upper layer's terms:

    TetherError
    ├── TreeError            tether.tree: reading a source tree (path escapes, sizes)
    ├── ManifestError        tether.manifests: rendering (YAML, Helm, Kustomize)
    ├── IdentityError        tether.identity: an object's key (no name, unknown kind, scope)
    ├── DiffError            tether.diff: comparing one object
    ├── PlanError            tether.plan: annotations and plans
    ├── HealthError          tether.health: health rules
    ├── GitError             tether.git: fetching and resolving
    ├── SourceError          tether.sources: Helm repositories and OCI registries
    ├── KubeError            tether.kube: the API server (mapped from HTTP status)
    ├── ApiError             tether.api: an invalid Tether resource (also a ValueError)
    ├── WebhookError         tether.webhook: a webhook body the provider would not send
    ├── WriteBackError       tether.writeback: editing, committing, pushing (with a reason)
    └── LocalClusterError    tether.localcluster: the local control plane

The operator maps any of them to a status condition with a named reason
(``tether.controller.application.failure_problem``); the CLI to a one-line
error and an exit code. A broad ``except Exception`` belongs only at the
outermost loop (a queue worker), which logs one line and retries.
"""

from __future__ import annotations


class TetherError(Exception):
    """Base of every error Tether raises on purpose."""
