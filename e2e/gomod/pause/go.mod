// The sandbox ("pause") process of the local cluster's real node: a static binary
// that holds a pod's namespaces, reaps zombies and exits on SIGINT/SIGTERM, like
// Kubernetes' build/pause/linux/pause.c. No dependencies.
module tether.local/e2e/gomod/pause

go 1.25.0
