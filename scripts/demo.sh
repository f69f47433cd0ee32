#!/usr/bin/env bash
# The README's main command: Tether end to end on an embedded default.
#
# Without KUBECONFIG it starts the local control plane (`tether cluster up`). It serves
# this checkout as a demo Git repository with `git daemon` on 127.0.0.1, installs the
# chart (CRDs and RBAC), runs the operator as a local process, applies the example
# Project, Repository and Application, and waits until the app is Synced and Healthy.
# The cluster keeps running afterwards; stop it with `.venv/bin/tether cluster down`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin="$HOME/.cache/tether/bin"
export PATH="$root/.venv/bin:$bin:$PATH"
work=$(mktemp -d /tmp/tether-demo.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

if [ -z "${KUBECONFIG:-}" ]; then
  echo "== starting the local control plane (no KUBECONFIG given)"
  eval "$(tether cluster up)"
fi
echo "== cluster: $KUBECONFIG"

echo "== serving a demo repository on git://127.0.0.1"
repo="$work/repos/tether"
mkdir -p "$repo"
cp -r examples "$repo/"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=demo -c user.email=demo@example.invalid commit -q -m "demo app"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
git daemon --reuseaddr --listen=127.0.0.1 --port="$port" --export-all --base-path="$work/repos" \
  "$work/repos" >"$work/git-daemon.log" 2>&1 &
pids+=($!)

echo "== installing the chart (CRDs, RBAC)"
helm upgrade --install tether charts/tether --namespace tether-system --create-namespace \
  --set replicaCount=0 --wait >/dev/null
kubectl wait --for=condition=Established crd/applications.tether.dev crd/repositories.tether.dev \
  crd/projects.tether.dev >/dev/null

echo "== starting the operator (log: $work/operator.log)"
tether run --all-namespaces --metrics-host 127.0.0.1 --metrics-port 0 --cache-dir "$work/cache" >"$work/operator.log" 2>&1 &
pids+=($!)

echo "== applying examples/project.yaml, examples/repository.yaml and examples/application.yaml"
kubectl apply -f examples/project.yaml >/dev/null
sed "s#git://127.0.0.1:9418/tether#git://127.0.0.1:$port/tether#" examples/repository.yaml \
  | kubectl apply -f - >/dev/null
kubectl apply -f examples/application.yaml >/dev/null

for _ in $(seq 1 120); do
  sync=$(kubectl get application demo -o jsonpath='{.status.sync.status}' 2>/dev/null || true)
  health=$(kubectl get application demo -o jsonpath='{.status.health.status}' 2>/dev/null || true)
  [ "$sync" = Synced ] && [ "$health" = Healthy ] && break
  sleep 1
done
kubectl get repositories
kubectl get applications -o wide
kubectl get all -n demo
if [ "${sync:-}" != Synced ] || [ "${health:-}" != Healthy ]; then
  echo "demo did not converge; operator log follows" >&2
  tail -50 "$work/operator.log" >&2
  exit 1
fi
echo "== editing the ConfigMap by hand; selfHeal puts Git's version back"
kubectl -n demo patch configmap demo-page --type merge -p '{"data":{"index.html":"edited by hand"}}' >/dev/null
value=""
for _ in $(seq 1 40); do
  value=$(kubectl -n demo get configmap demo-page -o jsonpath='{.data.index\.html}')
  case "$value" in *Hello*) break ;; esac
  sleep 0.25
done
echo "   data.index.html is now: $value"
case "$value" in *Hello*) ;; *) echo "selfHeal did not restore the ConfigMap" >&2; exit 1 ;; esac
echo "== demo Synced and Healthy. Stop the cluster with: .venv/bin/tether cluster down"
