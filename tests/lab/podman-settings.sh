#!/usr/bin/env bash
# Podman settings the lab needs on this machine kind (see tests/lab/README.md).
# Installs tests/lab/containers.conf as /etc/containers/containers.conf unless the machine already
# has a containers.conf of its own, in which case it only checks the settings that matter.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
target=/etc/containers/containers.conf
mkdir -p /etc/containers
if [ ! -e "$target" ] || grep -q '^# Written by ironcloud.stack' "$target"; then
  cmp -s "$here/containers.conf" "$target" 2>/dev/null || install -m 0644 "$here/containers.conf" "$target"
else
  for want in 'runtime = "runc"' 'cgroup_manager = "cgroupfs"' 'default_ulimits'; do
    grep -q "$want" "$target" || echo "warning: $target has no '$want'; the lab's containers may not start" >&2
  done
fi
