#!/usr/bin/env bash
# Build the operator image as an OCI archive, with no Docker daemon and no base image:
#   bash image/build.sh [OUT]        (default OUT: dist/tether-image.tar; `make image`)
#   bash image/build.sh --relock     (re-resolve image/constraints.txt from PyPI)
#
# The one definition of the image is this script and the files beside it:
#   packages.txt     Debian bookworm packages (mmdebstrap --variant=extract, the host's
#                    apt sources), so no package manager or maintainer script runs;
#   constraints.txt  exact Python versions; Tether's wheel and its deps are installed
#                    with pip run from its own wheel, which is not left in the image;
#   passwd, group    the non-root user tether (uid/gid 10001);
#   config.json      entrypoint, env and user of the image config;
# plus helm and kustomize at the pinned versions from ~/.cache/tether/bin
# (e2e/build-tools.sh). The result is cached under ~/.cache/tether/image by the hash
# of every input, so a warm build is a copy. Needs root (chroot) and mmdebstrap.
# SOURCE_DATE_EPOCH (default: the time of the last commit touching an input) fixes
# every timestamp.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
here="$repo/image"
cache="${TETHER_CACHE:-$HOME/.cache/tether}"
py="${PYTHON:-$repo/.venv/bin/python}"
# shellcheck source=../e2e/versions.env
source "$repo/e2e/versions.env"

if [[ ${1:-} == --relock ]]; then
  report="$(mktemp)"
  "$py" -m pip install -q --dry-run --ignore-installed --report "$report" "$repo"
  "$py" - "$report" "$here/constraints.txt" <<'EOF'
import json, sys
pins = sorted(
    (
        f"{i['metadata']['name']}=={i['metadata']['version']}"
        for i in json.load(open(sys.argv[1]))["install"]
        if i["metadata"]["name"] != "tether"
    ),
    key=str.lower,
)
head = [l for l in open(sys.argv[2]) if l.startswith("#")]
pip = [l for l in open(sys.argv[2]) if l.startswith("pip==")]
open(sys.argv[2], "w").write("".join(head) + "\n".join(pins) + "\n" + "".join(pip))
EOF
  rm -f "$report"
  echo "image: relocked $here/constraints.txt"
  exit 0
fi

out="$(realpath -m "${1:-$repo/dist/tether-image.tar}")"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml")"
name="${TETHER_IMAGE_NAME:-localhost/tether:$version}"
# The last commit that touched an input, so unrelated commits keep the cached image.
inputs=(operator pyproject.toml README.md image)
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct -- "${inputs[@]}")}"
start=$(date +%s)

pinned_tool() { # name version -> path of the pinned binary, or exit
  local path="$cache/bin/$1-$2"
  if [[ ! -x $path ]]; then
    echo "image: $path is missing: run \`bash e2e/build-tools.sh $1\`" >&2
    exit 3
  fi
  echo "$path"
}
helm_bin="$(pinned_tool helm "$HELM_VERSION")"
kustomize_bin="$(pinned_tool kustomize "$KUSTOMIZE_VERSION")"

# Every input of the image, hashed: sources, definition files, tool binaries, epoch.
inputs_key() {
  {
    (cd "$repo" && git ls-files -co --exclude-standard -- "${inputs[@]}" |
      LC_ALL=C sort | xargs -d '\n' sha256sum)
    sha256sum "$helm_bin" "$kustomize_bin" | cut -d' ' -f1
    echo "$name $SOURCE_DATE_EPOCH"
  } | sha256sum | cut -c1-16
}
key="$(inputs_key)"
cached="$cache/image/tether-$key.tar"
mkdir -p "$cache/image" "$(dirname "$out")"
if [[ -s $cached ]]; then
  cp "$cached" "$out"
  echo "image: $name cached ($key) -> $out in $(($(date +%s) - start))s"
  exit 0
fi

[[ $(id -u) -eq 0 ]] || {
  echo "image: building needs root (mmdebstrap and chroot); run with sudo" >&2
  exit 3
}
command -v mmdebstrap >/dev/null || {
  echo "image: mmdebstrap is missing: run scripts/install-system-deps.sh" >&2
  exit 3
}

work="$(mktemp -d "$cache/image/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

# 1. Debian packages, extracted only: the host's apt sources decide the mirror.
sources=/etc/apt/sources.list.d/debian.sources
[[ -f $sources ]] || sources=/etc/apt/sources.list
[[ -f $sources ]] || sources=http://deb.debian.org/debian
mapfile -t packages < <(grep -v '^\s*\(#\|$\)' "$here/packages.txt")
mmdebstrap --quiet --variant=extract --include="$(IFS=,; echo "${packages[*]}")" \
  --extract-hook='mkdir -p "$1/usr/share/tether" && (cd "$1/var/cache/apt/archives" && ls -- *.deb) | LC_ALL=C sort >"$1/usr/share/tether/debian-packages.txt"' \
  bookworm "$root" "$sources"
echo "image: debian packages at +$(($(date +%s) - start))s"

# 2. Tether and its dependencies as wheels, installed by pip run from its wheel. The
# image's python has no Debian Python packages, so PEP 668's guard protects nothing.
mkdir -p "$work/src" "$work/wheels"
(cd "$repo" && git ls-files -co --exclude-standard -- operator pyproject.toml README.md |
  xargs -d '\n' cp --parents -t "$work/src")
"$py" -m pip wheel -q --disable-pip-version-check -c "$here/constraints.txt" \
  --wheel-dir "$work/wheels" "$work/src" 2>"$work/wheel.log" || {
  cat "$work/wheel.log" >&2
  exit 1
}
"$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  -c "$here/constraints.txt" -d "$work/pip" pip
mkdir "$root/wheels" "$root/pip"
cp "$work"/wheels/*.whl "$root/wheels/"
cp "$work"/pip/pip-*.whl "$root/pip/"
pip_whl="$(cd "$root/pip" && ls pip-*.whl)"
# A clean environment: the host's PIP_* settings must not reach the image's pip.
in_root=(env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root chroot "$root")
"${in_root[@]}" /usr/bin/python3 "/pip/$pip_whl/pip" install -q --no-index --find-links /wheels \
  --no-compile --no-cache-dir --disable-pip-version-check --root-user-action=ignore \
  --break-system-packages tether
rm -rf "$root/wheels" "$root/pip"
echo "image: python packages at +$(($(date +%s) - start))s"

# 3. The pinned tools, the user, the writable folders; nothing that installs or builds.
install -m 0755 "$helm_bin" "$root/usr/local/bin/helm"
install -m 0755 "$kustomize_bin" "$root/usr/local/bin/kustomize"
install -m 0644 "$here/passwd" "$root/etc/passwd"
install -m 0644 "$here/group" "$root/etc/group"
# dpkg, debconf and the account tools came as dependencies of openssh-client; the image
# needs none of them (and no admin tool in /usr/sbin at all).
rm -rf "$root"/usr/bin/dpkg* "$root"/usr/bin/debconf* "$root"/usr/bin/update-alternatives \
  "$root"/usr/bin/{chage,chfn,chsh,expiry,gpasswd,passwd,py3clean,py3compile,py3versions} \
  "$root"/usr/sbin/* "$root"/usr/share/perl5 "$root"/usr/share/debconf "$root"/etc/cron.daily \
  "$root"/etc/logrotate.d "$root"/etc/dpkg "$root"/etc/alternatives "$root"/etc/debconf.conf \
  "$root"/etc/apt "$root"/var/lib/apt "$root"/var/cache/apt "$root"/var/lib/dpkg \
  "$root"/var/cache/debconf "$root"/var/log/* "$root"/usr/share/doc "$root"/usr/share/man \
  "$root"/usr/share/info "$root"/usr/share/locale "$root"/usr/share/lintian \
  "$root"/dev/* "$root"/tmp/* "$root"/var/tmp/*
mkdir -p "$root"/{dev,proc,sys,run,tmp,root} "$root/var/cache/tether"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
chown 10001:10001 "$root/var/cache/tether"

# 4. Byte-code with hash-based checks: no source mtimes inside, same bytes every build.
find "$root" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
"${in_root[@]}" /usr/bin/python3 -m compileall -q -j 1 --invalidation-mode checked-hash \
  /usr/lib/python3.11 /usr/local/lib/python3.11/dist-packages >/dev/null
echo "image: byte-compiled at +$(($(date +%s) - start))s"

# Every Tether module imports in the image (a missing shared library shows here, not in
# a pod), and the pinned tools run.
"${in_root[@]}" /usr/bin/python3 -c '
import importlib, pkgutil, tether
for m in pkgutil.walk_packages(tether.__path__, "tether."):
    importlib.import_module(m.name)
' || {
  echo "image: a Tether module does not import in the image (see above)" >&2
  exit 1
}
"${in_root[@]}" /usr/local/bin/helm version --short >/dev/null
"${in_root[@]}" /usr/local/bin/kustomize version >/dev/null

# 5. One layer, one config, one OCI archive.
"$py" -c 'import sys; from tether.localcluster.oci import main; sys.exit(main())' \
  "$root" "$work/image.tar" --name "$name" --config "$here/config.json" --epoch "$SOURCE_DATE_EPOCH"
mv "$work/image.tar" "$cached"
cp "$cached" "$out"
echo "image: $name built ($key) -> $out in $(($(date +%s) - start))s"
