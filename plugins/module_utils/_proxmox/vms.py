# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""proxmox_vm's work on the API: find the VM, create or clone it, converge its config, disks, node and power.

Requests of one run, in order: GET /cluster/resources (VMs, nodes and storages in one answer); for an existing
VM GET .../pending (the config and its pending changes in one answer). A no-op rerun makes these two requests
and nothing else. Every change that starts a task waits for it (ProxmoxClient.wait_task) and fails with the end
of the task log. Check mode makes the reads only and reports the same changes and diff.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox import vm as vmspec
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxClient, ProxmoxError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.vmid import (
    MAX_VMID,
    MIN_VMID,
    VmidAllocator,
    parse_range,
    with_free_vmid,
)

CLOUDINIT_KEYS = ("ciuser", "cipassword", "sshkeys", "nameserver", "searchdomain")


class Cluster:
    """What one GET /cluster/resources says: guests, nodes (online or not), storages (shared or not)."""

    def __init__(self, resources: Sequence[Mapping[str, Any]]) -> None:
        self.vms = [r for r in resources if r.get("type") == "qemu"]
        self.guests = [r for r in resources if r.get("type") in ("qemu", "lxc")]
        self.nodes = {r["node"]: r.get("status") == "online" for r in resources if r.get("type") == "node"}
        self.shared: dict[str, bool] = {}
        for r in resources:
            if r.get("type") == "storage":
                self.shared[r["storage"]] = self.shared.get(r["storage"], False) or bool(r.get("shared"))

    def by_vmid(self, vmid: int) -> Mapping[str, Any] | None:
        for vm in self.vms:
            if int(vm["vmid"]) == int(vmid):
                return vm
        return None

    def by_name(self, name: str, option: str = "name") -> Mapping[str, Any] | None:
        found = [vm for vm in self.vms if vm.get("name") == name]
        if len(found) > 1:
            raise ValidationError(
                "%s: %d VMs are named %r (vmids %s); names must be unique, give vmid"
                % (
                    option,
                    len(found),
                    name,
                    ", ".join(str(vm["vmid"]) for vm in sorted(found, key=lambda v: v["vmid"])),
                )
            )
        return found[0] if found else None

    def check_node(self, node: str, option: str = "node") -> None:
        if node not in self.nodes:
            raise ValidationError(
                "%s: %r is not a node of the cluster (nodes: %s)" % (option, node, ", ".join(sorted(self.nodes)))
            )
        if not self.nodes[node]:
            raise ProxmoxError("%s: node %s is offline; nothing was changed" % (option, node))


class VmManager:
    """Converge one VM to proxmox_vm's parameters."""

    def __init__(self, client: ProxmoxClient, params: Mapping[str, Any], check_mode: bool = False) -> None:
        self.api = client
        self.p = params
        self.check = check_mode
        self.timeout = float(params.get("timeout") or 300)
        self.diff_before: dict[str, Any] = {}
        self.diff_after: dict[str, Any] = {}
        self.changed = False
        self.migrated = False
        self.actions: list[str] = []

    # ----------------------------------------------------------------- entry

    def ensure(self) -> dict[str, Any]:
        p = self.p
        state = p.get("state") or "present"
        want: dict[str, str] = {}
        disks: dict[str, dict[str, Any]] = {}
        if state != "absent":
            want = vmspec.wanted_config(p)
            disks = vmspec.disk_specs(p.get("disks"), p.get("storage"))
        id_range = parse_range(p.get("vmid_range"))
        if p.get("vmid") is not None and not MIN_VMID <= int(p["vmid"]) <= MAX_VMID:
            raise ValidationError("vmid: %r is outside PVE's range 100..999999999" % p["vmid"])
        cluster = Cluster(self.api.resources())
        if p.get("node"):
            cluster.check_node(p["node"])
        vm = self._find(cluster)
        if state == "absent":
            return self._absent(vm)
        if vm is None:
            return self._create(cluster, want, disks, id_range)
        return self._update(cluster, vm, want, disks)

    def _find(self, cluster: Cluster) -> Mapping[str, Any] | None:
        if self.p.get("vmid") is not None:
            vm = cluster.by_vmid(int(self.p["vmid"]))
            if vm is not None and vm.get("type") != "qemu":
                raise ValidationError("vmid: %s is a container, not a VM" % self.p["vmid"])
            return vm
        return cluster.by_name(self.p["name"])

    def _path(self, node: str, vmid: int, tail: str = "") -> str:
        return "nodes/%s/qemu/%s%s" % (node, vmid, tail)

    def _task(self, method: str, path: str, what: str, **params: Any) -> None:
        """Send a request that starts a task and wait for its end (params may include PVE's own `timeout`)."""
        upid = getattr(self.api, method)(path, **params)
        if upid:
            self.api.wait_task(upid, self.timeout, what)

    def _result(
        self,
        vmid: int | None,
        node: str | None,
        name: str | None,
        status: str,
        config: Mapping[str, Any],
        pending: Mapping[str, Any],
    ) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "vm": {"vmid": vmid, "node": node, "name": name, "status": status, "config": vmspec.public_config(config)},
            "pending": sorted(pending),
            "migrated": self.migrated,
            "actions": self.actions,
            "diff": {"before": self.diff_before, "after": self.diff_after},
        }

    def _read(self, node: str, vmid: int) -> tuple[dict[str, Any], dict[str, Any]]:
        return vmspec.config_from_pending(self.api.get(self._path(node, vmid, "/pending")))

    def _status(self, vm: Mapping[str, Any]) -> str:
        status = vm.get("status")
        if status not in ("running", "stopped"):
            status = (self.api.get(self._path(vm["node"], vm["vmid"], "/status/current")) or {}).get("status")
        return status or "unknown"

    # ---------------------------------------------------------------- absent

    def _absent(self, vm: Mapping[str, Any] | None) -> dict[str, Any]:
        if vm is None:
            return self._result(self.p.get("vmid"), None, self.p.get("name"), "absent", {}, {})
        vmid, node = int(vm["vmid"]), vm["node"]
        if vm.get("template") and not self.p.get("vmid"):
            raise ValidationError("name: %r is a template; give its vmid to remove a template" % vm.get("name"))
        status = self._status(vm)
        self.changed = True
        self.diff_before = {"vmid": vmid, "node": node, "name": vm.get("name"), "status": status}
        self.diff_after = {"state": "absent"}
        if not self.check:
            if status == "running":
                self._task("post", self._path(node, vmid, "/status/stop"), "stop VM %s" % vmid)
                self.actions.append("stopped")
            self._task(
                "delete",
                self._path(node, vmid),
                "destroy VM %s" % vmid,
                purge=True,
                **{"destroy-unreferenced-disks": True},
            )
        self.actions.append("destroyed")
        result = self._result(vmid, node, vm.get("name"), "absent", {}, {})
        result["vm"]["tags"] = sorted(_naming.split_tags(vm.get("tags")))  # whose VM it was
        return result

    # ---------------------------------------------------------------- create

    def _create(
        self, cluster: Cluster, want: dict[str, str], disks: dict[str, dict[str, Any]], id_range: tuple[int, int] | None
    ) -> dict[str, Any]:
        p = self.p
        if not p.get("name") and p.get("vmid") is None:
            raise ValidationError("name: required to create a VM (or give vmid)")
        source = None
        if p.get("clone"):
            source = self._clone_source(cluster)
            node = p.get("node") or source["node"]
            cluster.check_node(source["node"], "clone")
        else:
            node = p.get("node")
            if not node:
                raise ValidationError("node: required to create a VM (or clone one)")
        for key, disk in disks.items():
            if source is None and not disk["storage"]:
                raise ValidationError(
                    "disks[%d].storage: required for the new disk %s (or set the storage option)" % (disk["index"], key)
                )
        cipassword = p.get("cipassword")
        start = (p.get("state") or "present") in ("started", "restarted")
        status = "running" if start else "stopped"
        self.changed = True
        planned = dict(want)
        if cipassword is not None:
            planned["cipassword"] = vmspec.MASK
        for key, disk in disks.items():
            planned[key] = "size=%s" % vmspec.format_size(disk["size"])
        self.diff_before = {"state": "absent"}
        self.diff_after = {
            "state": "present",
            "node": node,
            "status": status,
            "config": {k: vmspec.shown(k, v) for k, v in sorted(planned.items())},
        }
        if source is not None:
            self.diff_after["clone"] = source["vmid"]
        if self.check:
            self.actions.append("cloned" if source is not None else "created")
            if start:
                self.actions.append("started")
            return self._result(p.get("vmid"), node, p.get("name"), status, planned, {})

        if p.get("vmid") is not None:
            allocator = VmidAllocator([], int(p["vmid"]), max_attempts=1)
        else:
            first = id_range[0] if id_range else int(str(self.api.get("cluster/nextid")))
            allocator = VmidAllocator([int(g["vmid"]) for g in cluster.guests], first, id_range)
        if source is None:
            vmid = with_free_vmid(
                lambda newid: self._create_new(newid, node, want, disks, cipassword, start), allocator
            )[0]
            self.actions.append("created")
            if start:
                self.actions.append("started")
        else:
            vmid = with_free_vmid(lambda newid: self._clone(source, newid, node), allocator)[0]
            self.actions.append("cloned")
            config, pending = self._read(node, vmid)
            current = vmspec.effective(config, pending)
            self._apply_config(node, vmid, current, want, disks, cipassword)
            if start:
                self._task(
                    "post", self._path(node, vmid, "/status/start"), "start VM %s" % vmid, timeout=int(self.timeout)
                )
                self.actions.append("started")
        config, pending = self._read(node, vmid)
        self.diff_after["vmid"] = vmid
        return self._result(vmid, node, config.get("name"), status, config, pending)

    def _clone_source(self, cluster: Cluster) -> Mapping[str, Any]:
        ref = str(self.p["clone"])
        source = cluster.by_vmid(int(ref)) if ref.isdigit() else cluster.by_name(ref, "clone")
        if source is None:
            raise ValidationError("clone: no template or VM %r in the cluster" % ref)
        return source

    def _create_new(
        self,
        vmid: int,
        node: str,
        want: Mapping[str, str],
        disks: Mapping[str, dict[str, Any]],
        cipassword: str | None,
        start: bool,
    ) -> None:
        params: dict[str, Any] = {k: vmspec.api_value(k, v) for k, v in want.items()}
        new, _grow, _update = vmspec.disk_changes({}, disks)
        params.update(new)
        if cipassword is not None:
            params["cipassword"] = cipassword
        wants_ci = any(k in params for k in CLOUDINIT_KEYS) or any(re.fullmatch(r"ipconfig\d+", k) for k in params)
        if wants_ci and not vmspec.has_cloudinit(params):
            storage = self.p.get("storage") or next((d["storage"] for d in disks.values() if d["storage"]), None)
            if not storage:
                raise ValidationError("storage: required for the cloud-init drive of a new VM")
            slot = next((s for s in ("ide2", "ide0", "ide1", "ide3") if s not in params), None)
            if slot is None:
                raise ValidationError("disks: no free IDE slot for the cloud-init drive")
            params[slot] = "%s:cloudinit" % storage
        if self.p.get("pool"):
            params["pool"] = self.p["pool"]
        if start:
            params["start"] = True
        self._task("post", "nodes/%s/qemu" % node, "create VM %s" % vmid, vmid=vmid, **params)

    def _clone(self, source: Mapping[str, Any], newid: int, node: str) -> None:
        p = self.p
        params: dict[str, Any] = {"newid": newid, "name": p.get("name")}
        if p.get("full") is not None:
            params["full"] = p["full"]
        full = p.get("full") if p.get("full") is not None else not source.get("template")
        if p.get("storage") and full:
            params["storage"] = p["storage"]
        if node != source["node"]:
            params["target"] = node
        if p.get("pool"):
            params["pool"] = p["pool"]
        self._task(
            "post",
            self._path(source["node"], source["vmid"], "/clone"),
            "clone VM %s to %s" % (source["vmid"], newid),
            **params,
        )

    # ---------------------------------------------------------------- update

    def _apply_config(
        self,
        node: str,
        vmid: int,
        current: Mapping[str, Any],
        want: Mapping[str, str],
        disks: Mapping[str, dict[str, Any]],
        cipassword: str | None,
    ) -> dict[str, tuple[Any, Any]]:
        """Send the config changes and disk resizes (unless check mode); the changes {key: (before, after)}."""
        changes: dict[str, tuple[Any, Any]] = dict(vmspec.config_changes(current, want))
        if cipassword is not None and not current.get("cipassword"):
            changes["cipassword"] = (None, cipassword)
        new, grow, update = vmspec.disk_changes(current, disks)
        for key, value in new.items():
            changes[key] = (None, value)
        for key, (before, after) in update.items():
            changes[key] = (before, after)
        if not self.check and changes:
            body = {
                k: vmspec.api_value(k, after, vmspec.normalise(k, current.get(k)))
                for k, (_before, after) in changes.items()
            }
            self.api.put(self._path(node, vmid, "/config"), **body)
        for key, (_before, after) in sorted(grow.items()):
            if not self.check:
                self._task(
                    "put", self._path(node, vmid, "/resize"), "resize %s of VM %s" % (key, vmid), disk=key, size=after
                )
        shown = {k: (vmspec.shown(k, b), vmspec.shown(k, a)) for k, (b, a) in changes.items()}
        for key, (before, after) in grow.items():
            shown["%s.size" % key] = (before, after)
        return shown

    def _update(
        self, cluster: Cluster, vm: Mapping[str, Any], want: dict[str, str], disks: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        p = self.p
        vmid, node = int(vm["vmid"]), vm["node"]
        state = p.get("state") or "present"
        if vm.get("template"):
            raise ValidationError("vmid: VM %s is a template; proxmox_vm does not change templates" % vmid)
        if not cluster.nodes.get(node, False):
            raise ProxmoxError("VM %s is on node %s, which is offline; nothing was changed" % (vmid, node))
        status = self._status(vm)
        config, pending = self._read(node, vmid)
        current = vmspec.effective(config, pending)
        # Everything is checked before the first change: a shrink or a bad value fails here.
        vmspec.disk_changes(current, disks)
        target = p.get("node")
        if target and target != node:
            self._migrate(cluster, vmid, node, target, status, config)
            node = target
        changes = self._apply_config(node, vmid, current, want, disks, p.get("cipassword"))
        for key, (before, after) in changes.items():
            self.diff_before.setdefault("config", {})[key] = before
            self.diff_after.setdefault("config", {})[key] = after
        if changes:
            self.changed = True
            self.actions.append("configured")
        if p.get("pool") and vm.get("pool") != p["pool"]:
            self.changed = True
            self.diff_before["pool"], self.diff_after["pool"] = vm.get("pool"), p["pool"]
            if not self.check:
                self.api.put("pools", poolid=p["pool"], vms=str(vmid), **{"allow-move": True})
            self.actions.append("pool")
        # What waits for a restart: what PVE reports after the change, or in check mode what it would.
        fresh = False
        if self.check or not changes:
            waiting = dict(pending)
            if status == "running":
                waiting.update(
                    {
                        k.split(".")[0]: v
                        for k, (_b, v) in changes.items()
                        if vmspec.needs_restart(k.split(".")[0]) and not k.endswith(".size")
                    }
                )
        else:
            config, waiting = self._read(node, vmid)
            fresh = True
        before = len(self.actions)
        status = self._power(vmid, node, status, state, waiting)
        powered = len(self.actions) > before
        if self.changed and not self.check and (powered or not fresh):
            # Read once more what PVE now holds (the pending changes a restart applied, a migrated VM's config).
            config, waiting = self._read(node, vmid)
        elif self.check:
            config = vmspec.effective(
                config, {k: v for k, (_b, v) in changes.items() if not k.endswith(".size") and k not in waiting}
            )
        return self._result(vmid, node, config.get("name", vm.get("name")), status, config, waiting)

    def _migrate(
        self, cluster: Cluster, vmid: int, node: str, target: str, status: str, config: Mapping[str, Any]
    ) -> None:
        cluster.check_node(target)
        online = status == "running"
        local = sorted(
            {
                sid
                for key, sid in vmspec.disks_on(config)
                if not cluster.shared.get(sid, False) and "cloudinit" not in str(config.get(key))
            }
        )
        params: dict[str, Any] = {"target": target}
        if online:
            params["online"] = True
            if local:
                params["with-local-disks"] = True
        self.changed = self.migrated = True
        self.diff_before["node"], self.diff_after["node"] = node, target
        self.actions.append("migrated online" if online else "migrated offline")
        if not self.check:
            self._task("post", self._path(node, vmid, "/migrate"), "migrate VM %s to %s" % (vmid, target), **params)

    def _power(self, vmid: int, node: str, status: str, state: str, pending: Mapping[str, Any]) -> str:
        restart = status == "running" and (state == "restarted" or (pending and self.p.get("restart_if_needed")))
        if restart:
            self._change_status(status, "running", "restarted")
            if not self.check:
                self._task(
                    "post", self._path(node, vmid, "/status/reboot"), "reboot VM %s" % vmid, timeout=int(self.timeout)
                )
            return "running"
        if state in ("started", "restarted") and status != "running":
            self._change_status(status, "running", "started")
            if not self.check:
                self._task(
                    "post", self._path(node, vmid, "/status/start"), "start VM %s" % vmid, timeout=int(self.timeout)
                )
            return "running"
        if state == "stopped" and status != "stopped":
            self._change_status(status, "stopped", "stopped")
            if not self.check:
                self._task(
                    "post",
                    self._path(node, vmid, "/status/shutdown"),
                    "shut down VM %s" % vmid,
                    forceStop=True,
                    timeout=int(self.timeout),
                )
            return "stopped"
        return status

    def _change_status(self, before: str, after: str, action: str) -> None:
        self.changed = True
        self.diff_before["status"], self.diff_after["status"] = before, after
        self.actions.append(action)
