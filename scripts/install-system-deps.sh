#!/usr/bin/env bash
# Debian packages the tests need: git (daemon and http-backend), openssh (sshd and the
# ssh client dulwich drives), a Python venv; for the operator image mmdebstrap; for the
# local cluster's real node containerd, runc, the CNI plugins and iptables.
# Idempotent; skips apt when all present.
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
[ -x /usr/lib/git-core/git-http-backend ] || need+=(git)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v containerd >/dev/null || need+=(containerd)
[ -x /usr/sbin/runc ] || command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
[ -x /usr/sbin/iptables ] || command -v iptables >/dev/null || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${need[@]}"
fi
