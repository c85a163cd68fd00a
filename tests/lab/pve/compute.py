"""What the compute layer needs from the lab's PVE beyond fakepve: migrate, resize, a shared storage and a
cloud-init template to clone, and a control method to clear the VMs a test left behind.

- POST /nodes/{node}/qemu/{vmid}/migrate (qemu-server API2/Qemu.pm migrate_vm, QemuMigrate.pm): the sync checks
  PVE makes (target is local node, no such cluster node, VM is locked, running VM without online, storage not
  available on the target), then a qmigrate task holding lock `migrate` that moves the VM at its end. Live
  migration of local disks needs `with-local-disks`; an offline target fails the task.
- PUT /nodes/{node}/qemu/{vmid}/resize (resize_vm, a `resize` task since PVE 8): grows a disk to an absolute size
  or by `+size`; a smaller size fails the task with PVE's "shrinking disks is not supported".
- PUT/POST .../config allocates new disks given as STORAGE:SIZE (and STORAGE:cloudinit), as PVE does, and
  applies disk and NIC changes to a running VM at once: PVE's default `hotplug` is network,disk,usb.
- seed_compute(): a shared NFS storage `vmstore` and the template 9000 `debian-12-cloud` (scsi0 on vmstore, a
  cloud-init drive on ide2), so clones may use `target`, in the shared pool `ironcloud-templates` on which
  proxmox_tenant gives every tenant PVETemplateUser (clone, audit).
"""

from __future__ import annotations

import re
from typing import Any

from fakepve.lxc import SIZE_UNITS, format_size
from fakepve.model import FakeVm, TaskError
from fakepve.qemu import DRIVE_KEY, NEW_DISK, drives_of, is_cdrom, join_drive, split_drive, volume_ref
from fakepve.routing import die, param_error

GiB = 1024**3
TEMPLATE_VMID = 9000
TEMPLATE_NAME = "debian-12-cloud"
# The shared pool of templates (proxmox_tenant's default `templates`): tenants get PVETemplateUser on it.
TEMPLATES_POOL = "ironcloud-templates"
SIZE_RE = re.compile(r"^(\+)?(\d+(?:\.\d+)?)([KMGT])?$")


class ComputeMixin:
    # PVE seconds a migration takes (scaled by time_scale).
    migrate_secs = 5
    resize_secs = 1

    def _routes_compute(self):
        one = "/nodes/{node}/qemu/{vmid}"
        return [("POST", one + "/migrate", self._qm_migrate), ("PUT", one + "/resize", self._qm_resize)]

    # ---------------------------------------------------------------- migrate

    def _shared(self, sid: str) -> bool:
        return bool(self.storages.get(sid, {}).get("shared"))

    async def _qm_migrate(self, v, user):
        node, vmid, target = v["node"], int(v["vmid"]), v["target"]
        if target == node:
            raise param_error(target="target is local node.")
        self.need_quorum()
        if target not in self.nodes:
            raise die(f"no such cluster node '{target}'")
        vm = self.find(node, vmid)
        self._check_lock(vm)
        running = vm.status == "running"
        if running and not v.get("online"):
            raise die("can't migrate running VM without --online")
        local: list[str] = []
        for _key, volume, props in drives_of(vm.config):
            sid = volume_ref(volume)[0]
            if sid is None or sid not in self.storages:
                continue
            if not self._storage_enabled(sid, target):
                raise die(f"storage '{sid}' is not available on node '{target}'")
            if not self._shared(sid) and not is_cdrom(volume, props):
                local.append(volume)
        address = f"192.0.2.{11 + sorted(self.nodes).index(target)}"
        log = [f"starting migration of VM {vmid} to node '{target}' ({address})"]
        online = running and v.get("online")
        if v.get("online") and not running:
            log.append("VM isn't running. Doing offline migration instead.")

        async def body():
            if not self.nodes[target].get("online", True):
                raise TaskError(
                    "migration aborted (duration 00:00:03): Can't connect to destination address using public key"
                )
            if online and local and not v.get("with-local-disks"):
                raise TaskError("can't live migrate attached local disks without with-local-disks option")
            self._qm_lock(vm, "migrate")
            try:
                await self.pause(self.migrate_secs)
                vm.node = target
            finally:
                self._qm_lock(vm, None)
            return f"migration finished successfully (duration 00:00:0{max(1, int(self.migrate_secs))})"

        return await self.task(node, "qmigrate", vmid, user, body, vm=vm, log=log)

    # ----------------------------------------------------------------- config

    async def _apply_config(self, vm, user, p):
        updates = dict(p)
        hot = {}
        for key in sorted(updates):
            if not DRIVE_KEY.match(key):
                continue
            volume, props = split_drive(updates[key])
            if volume.endswith(":cloudinit") or (NEW_DISK.match(volume) and not is_cdrom(volume, props)):
                self._qm_check_drive(user, vm.vmid, None, key, updates[key], None)
                updates[key], _made = self._qm_new_drive(vm.vmid, key, updates[key], None)
                hot[key] = updates[key]
        if vm.status == "running":
            hot.update((k, v) for k, v in updates.items() if re.fullmatch(r"net\d+", k))
        await super()._apply_config(vm, user, {k: v for k, v in updates.items() if k not in hot})
        for key, value in hot.items():
            vm.config[key] = value
            vm.pending.pop(key, None)

    # ----------------------------------------------------------------- resize

    async def _qm_resize(self, v, user):
        vm = self.find(v["node"], v["vmid"])
        disk, size = v["disk"], str(v["size"])
        if v.get("skiplock") and user != "root@pam":
            raise param_error(skiplock="Only root may use this option.")
        match = SIZE_RE.match(size)
        if not match:
            raise param_error(size="value does not match the regex pattern")
        self.need_quorum()

        async def body():
            if vm.lock and not v.get("skiplock"):
                raise TaskError(f"VM is locked ({vm.lock})")
            value = vm.config.get(disk)
            if not value:
                raise TaskError(f"disk '{disk}' does not exist")
            volume, props = split_drive(value)
            if is_cdrom(volume, props):
                raise TaskError("you can't resize a cdrom")
            vol = self._qm_volume(volume) or {}
            current = int(vol.get("size") or _bytes(props.get("size", "0")))
            amount = int(float(match.group(2)) * SIZE_UNITS.get(match.group(3) or "", 1))
            new = current + amount if match.group(1) else amount
            if new < current:
                raise TaskError("shrinking disks is not supported")
            if new == current:
                return f"disk '{disk}' is already {format_size(current)}"
            await self.pause(self.resize_secs)
            if vol:
                vol["size"] = new
            props = dict(props, size=format_size(new))
            vm.config[disk] = join_drive(volume, props)
            return None

        return await self.task(vm.node, "resize", vm.vmid, user, body, vm=vm)

    # ------------------------------------------------------------------- seed

    def seed_compute(self) -> dict[str, Any]:
        """The shared storage `vmstore` and the cloud-init template 9000, unless they exist."""
        self.storages.setdefault(
            "vmstore",
            {
                "type": "nfs",
                "server": "192.0.2.50",
                "export": "/export/vmstore",
                "path": "/mnt/pve/vmstore",
                "content": "images",
                "shared": 1,
                "active": 1,
                "files": set(),
            },
        )
        volumes = self.storages["vmstore"].setdefault("volumes", {})
        if self.vm(TEMPLATE_VMID) is None:
            disk = "9000/base-9000-disk-0.raw"
            ci = "9000/vm-9000-cloudinit.raw"
            volumes[disk] = {"content": "images", "format": "raw", "size": 2 * GiB, "vmid": TEMPLATE_VMID, "ctime": 0}
            volumes[ci] = {"content": "images", "format": "raw", "size": 4 * 1024**2, "vmid": TEMPLATE_VMID, "ctime": 0}
            node = sorted(self.nodes)[0]
            vm = FakeVm(TEMPLATE_VMID, TEMPLATE_NAME, node=node, template=True)
            vm.config.update(
                {
                    "agent": "1",
                    "boot": "order=scsi0",
                    "cores": 1,
                    "memory": "1024",
                    "ostype": "l26",
                    "scsihw": "virtio-scsi-pci",
                    "serial0": "socket",
                    "vga": "serial0",
                    "template": 1,
                    "scsi0": f"vmstore:{disk},size=2G",
                    "ide2": f"vmstore:{ci},media=cdrom",
                    "net0": "virtio=BC:24:11:90:00:00,bridge=vmbr0",
                    "smbios1": "uuid=6a5bd0c2-2b8e-4d5e-9a35-000000009000",
                    "meta": "creation-qemu=10.0.2,ctime=1767225600",
                    "description": "Debian 12 generic cloud image",
                }
            )
            self.vms.append(vm)
            self._pool_join(TEMPLATES_POOL, TEMPLATE_VMID)
            self.pool_info[TEMPLATES_POOL]["comment"] = "ironcloud templates: every tenant may clone these"
        return {"storage": "vmstore", "template": TEMPLATE_VMID, "pool": TEMPLATES_POOL}

    def remove_vms(self, prefix: str) -> list[int]:
        """Forget the VMs (not templates) whose name starts with prefix, and their volumes: a test's clean slate."""
        gone = []
        for vm in list(self.vms):
            if vm.template or not str(vm.name).startswith(prefix):
                continue
            for _key, volume, props in drives_of(vm.config):
                if not is_cdrom(volume, props):
                    self._qm_free(volume)
            self.vms.remove(vm)
            self._pool_leave(vm.vmid)
            gone.append(vm.vmid)
        return sorted(gone)

    def vm_summary(self, vmid: int) -> dict[str, Any]:
        """The fake's view of one VM (tests compare it with what the modules report)."""
        vm = self.vm(int(vmid))
        if vm is None:
            return {}
        return {
            "vmid": vm.vmid,
            "node": vm.node,
            "status": vm.status,
            "lock": vm.lock,
            "config": dict(vm.config),
            "pending": dict(vm.pending),
            "pool": vm.pool,
        }


def _bytes(text: str) -> int:
    match = SIZE_RE.match(str(text))
    if not match:
        return 0
    return int(float(match.group(2)) * SIZE_UNITS.get(match.group(3) or "G", 1))
