#!/usr/bin/env bash
# Build the pinned tools (versions in e2e/versions.env) from their Go modules into
#   ${TETHER_CACHE:-~/.cache/tether}/bin/<name>-<version>
# and point ${...}/bin/<name> at it. A tool already built is skipped, so a warm
# run costs seconds. Go settings are passed per command, never exported globally.
# Prints one "build-tools: <name> <version> <seconds>s" line per tool.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache="${TETHER_CACHE:-$HOME/.cache/tether}"
bin="$cache/bin"
mkdir -p "$bin" "$cache/go-build"

# Only the build commands see these.
go_env=(
  env
  GOTOOLCHAIN=local
  GOFLAGS=-mod=readonly
  GOSUMDB="${GOSUMDB:-sum.golang.org}"
  GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
  GOCACHE="$cache/go-build"
  CGO_ENABLED=0
)
# Builds are long on small machines; do not starve everything else.
nice_cmd=(nice -n 10)

k8s_ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION} \
 -X k8s.io/component-base/version.gitMajor=$(echo "${KUBERNETES_VERSION#v}" | cut -d. -f1) \
 -X k8s.io/component-base/version.gitMinor=$(echo "${KUBERNETES_VERSION#v}" | cut -d. -f2) \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=${KUBERNETES_VERSION}"

link_tool() { # name version
  ln -sfn "$1-$2" "$bin/$1"
}

have_tool() { # name version
  [[ -x "$bin/$1-$2" ]]
}

report() { # name version start-seconds status
  echo "build-tools: $1 $2 $(($(date +%s) - $3))s $4"
}

# Build a package from one of the helper modules under e2e/gomod/.
build_in_module() { # name version module-dir package [ldflags]
  local name=$1 version=$2 mod=$3 pkg=$4 ldflags=${5:--s -w} start
  if have_tool "$name" "$version"; then
    link_tool "$name" "$version"
    report "$name" "$version" "$(date +%s)" cached
    return
  fi
  start=$(date +%s)
  (cd "$here/gomod/$mod" &&
    "${nice_cmd[@]}" "${go_env[@]}" go build -trimpath -ldflags "$ldflags" \
      -o "$bin/$name-$version.tmp" "$pkg")
  mv "$bin/$name-$version.tmp" "$bin/$name-$version"
  link_tool "$name" "$version"
  report "$name" "$version" "$start" built
}

# The file name `go install` gives a package: its last element, skipping a /vN suffix.
command_name() { # package
  local last=${1##*/}
  if [[ $last =~ ^v[0-9]+$ ]]; then
    last=${1%/*}
    last=${last##*/}
  fi
  echo "$last"
}

# Build a command whose module has no replace lines with `go install pkg@version`.
install_at_version() { # name version package
  local name=$1 version=$2 pkg=$3 start tmp
  if have_tool "$name" "$version"; then
    link_tool "$name" "$version"
    report "$name" "$version" "$(date +%s)" cached
    return
  fi
  start=$(date +%s)
  tmp="$(mktemp -d "$bin/.gobin.XXXXXX")"
  (cd "$tmp" &&
    "${nice_cmd[@]}" "${go_env[@]}" GOBIN="$tmp" GOFLAGS=-mod=mod \
      go install -trimpath -ldflags "-s -w" "$pkg@$version")
  mv "$tmp/$(command_name "$pkg")" "$bin/$name-$version"
  rmdir "$tmp"
  link_tool "$name" "$version"
  report "$name" "$version" "$start" built
}

# Expose the k8s OpenAPI v3 documents at a stable path for the diff helper.
link_openapi() {
  local dir
  dir="$(cd "$here/gomod/kube" && "${go_env[@]}" go list -m -f '{{.Dir}}' k8s.io/kubernetes)"
  mkdir -p "$cache/openapi"
  ln -sfn "$dir/api/openapi-spec/v3" "$cache/openapi/kubernetes-${KUBERNETES_VERSION}-v3"
  echo "build-tools: openapi-spec $cache/openapi/kubernetes-${KUBERNETES_VERSION}-v3 -> $dir/api/openapi-spec/v3"
}

# kwok ships its stage policies as kustomizations, not inside the binary; render
# the "fast" set (node init + lease heartbeat + pod ready/complete/delete) once.
kwok_stages() {
  local dir out="$cache/kwok/stages-${KWOK_VERSION}.yaml"
  if [[ ! -s $out ]]; then
    dir="$(cd "$cache" && "${go_env[@]}" GOFLAGS= go mod download -json "sigs.k8s.io/kwok@${KWOK_VERSION}" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    mkdir -p "$cache/kwok"
    "$bin/kustomize" build "$dir/kustomize/stage/fast" >"$out.tmp"
    mv "$out.tmp" "$out"
  fi
  ln -sfn "stages-${KWOK_VERSION}.yaml" "$cache/kwok/stages.yaml"
  echo "build-tools: kwok-stages $out"
}

# Selected tools (default: all) in an order that gives the manifest helpers
# what they need first.
wanted=("$@")
[[ ${#wanted[@]} -gt 0 ]] || wanted=(helm kustomize kubectl etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubelet pause registry)

for tool in "${wanted[@]}"; do
  case "$tool" in
    helm) install_at_version helm "$HELM_VERSION" "helm.sh/helm/v3/cmd/helm" ;;
    kustomize) install_at_version kustomize "$KUSTOMIZE_VERSION" "sigs.k8s.io/kustomize/kustomize/v5" ;;
    kwok)
      install_at_version kwok "$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwok"
      kwok_stages
      ;;
    registry) install_at_version registry "$DISTRIBUTION_VERSION" "github.com/distribution/distribution/v3/cmd/registry" ;;
    etcd) build_in_module etcd "$ETCD_VERSION" etcd "go.etcd.io/etcd/server/v3" ;;
    pause) build_in_module pause "$PAUSE_VERSION" pause . ;;
    kubectl | kube-apiserver | kube-controller-manager | kube-scheduler | kubelet)
      build_in_module "$tool" "$KUBERNETES_VERSION" kube "k8s.io/kubernetes/cmd/$tool" "$k8s_ldflags"
      ;;
    *)
      echo "build-tools: unknown tool $tool" >&2
      exit 2
      ;;
  esac
done
link_openapi
