"""What PVE refuses in a VM's `cpu` and `sshkeys`, which fakepve takes as given.

- cpu (format pve-vm-cpu-conf, checked with the parameters: 400 "Parameter verification failed."): qemu-server's
  validate_vm_cpu_conf takes a built-in type of its list (the collection's data file
  plugins/module_utils/_proxmox/cpu_models.py, read by path: one list, not a copy) or an existing custom model
  (the lab has none), flags among the VM-specific ones, and no reported-model.
- sshkeys (POST /nodes/{node}/qemu and PUT/POST .../config): PVE::Tools::validate_ssh_public_keys runs
  `ssh-keygen -l -f` on each line that is not blank and dies with "SSH public key validation error" (a 500, in
  the request, before any change). The lab runs the same command.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import tempfile
import urllib.parse
from typing import Any

from fakepve.model import PveError

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
_SPEC = importlib.util.spec_from_file_location(
    "ironcloud_cpu_models", os.path.join(_ROOT, "plugins", "module_utils", "_proxmox", "cpu_models.py")
)
cpu_models = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(cpu_models)


def cpu_error(value: Any, custom_models: tuple[str, ...] = ()) -> str | None:
    """PVE's reason for refusing value as a VM's cpu (after 'invalid format - '), or None."""
    cputype, props = None, {}
    for n, part in enumerate(str(value).split(",")):
        key, eq, val = part.partition("=")
        if not eq and n == 0:
            cputype = key
        elif eq:
            props[key] = val
    cputype = props.pop("cputype", cputype)
    if not cputype:
        return "CPU is missing cputype"
    if cputype.startswith("custom-"):
        if cputype[len("custom-") :] not in custom_models:
            return "Custom cputype '%s' not found" % cputype
    elif cputype not in cpu_models.CPU_MODELS:
        return "Built-in cputype '%s' is not defined (missing 'custom-' prefix?)" % cputype
    flags = [f for f in props.get("flags", "").split(";") if f]
    if any(f[:1] not in "+-" or f[1:] not in cpu_models.VM_CPU_FLAGS for f in flags):
        return "VM-specific CPU flags must be a subset of: %s" % ", ".join(cpu_models.VM_CPU_FLAGS)
    if "reported-model" in props:
        return "Property 'reported-model' not allowed in VM-specific CPU config."
    return None


def sshkeys_valid(encoded: str) -> bool:
    """PVE::Tools::validate_ssh_public_keys: ssh-keygen -l on each line that is not blank."""
    for line in urllib.parse.unquote(str(encoded)).split("\n"):
        if not line.strip():
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".pub") as f:
            f.write(line)
            f.flush()
            done = subprocess.run(["ssh-keygen", "-l", "-f", f.name], capture_output=True, check=False)
        if done.returncode != 0:
            return False
    return True


def check_vm_params(values: dict[str, Any]) -> None:
    """Raise PVE's error for a cpu or sshkeys PVE refuses."""
    if values.get("cpu") is not None:
        reason = cpu_error(values["cpu"])
        if reason:
            raise PveError(400, "Parameter verification failed.", {"cpu": "invalid format - %s" % reason})
    if values.get("sshkeys") is not None and not sshkeys_valid(values["sshkeys"]):
        raise PveError(500, "SSH public key validation error")


class QemuChecksMixin:
    async def _qm_create(self, v, user):
        check_vm_params(v)
        return await super()._qm_create(v, user)

    def _verify(self, request, values, drop=()):
        out = super()._verify(request, values, drop)
        if request.method in ("PUT", "POST") and "/qemu/" in request.path and request.path.endswith("/config"):
            check_vm_params(out)
        return out
