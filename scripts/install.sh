#!/usr/bin/env bash
# Install hvroll into ./.venv on Debian 12, as root.
#   bash scripts/install.sh          what `hvroll` needs (libvirt's CPU map and Python binding)
#   bash scripts/install.sh --test   also what the test suite needs (QEMU, libvirtd, linters)
# Only missing Debian packages are installed; running it again is quick and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3 python3-venv python3-dev gcc pkg-config libvirt-dev libvirt0)
extra="."
if [[ "${1:-}" == "--test" ]]; then
  packages+=(qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients busybox-static
             iproute2 cpio gzip kmod libc6-dev tini chromium fonts-dejavu-core
             mariadb-server rabbitmq-server postgresql)
  extra=".[test]"
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}" >&2
  apt-get update -q
  # Packages such as mariadb-server and rabbitmq-server start their system service on install;
  # hvroll never uses those (its labs run their own copies on loopback), so a policy-rc.d that
  # forbids starting services is put in place for the install if there is none.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
  fi
  rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
  if ((own_policy)); then rm -f "$policy"; fi
  ((rc == 0)) || exit $rc
fi

# Debian's own interpreter, the one the python3 packages above are for, whatever python3 comes
# first on PATH (pyenv, conda): it is built with profile-guided and link-time optimisation and
# its libpython linked in, and runs hvroll's simulated campaigns about a fifth faster than a
# default pyenv build of the same release (docs/performance.md, section 38).
[[ -x .venv/bin/python ]] || /usr/bin/python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e "$extra"
