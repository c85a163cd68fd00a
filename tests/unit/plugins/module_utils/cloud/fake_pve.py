"""A stateful stand-in for the Proxmox API of cloud_vm's unit tests, on pve_stub's StubApi (same calls record).

It keeps VMs (clone, config, resize, start, shutdown, stop, destroy, pools) and answers /cluster/resources from
them, with every task ending OK at once. fail(step) makes the request of that step raise a ProxmoxError once.
"""

from __future__ import annotations

import re
from typing import Any

from pve_stub import StubApi, upid

from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxError

MiB = 1024 * 1024
GiB = 1024 * MiB
TEMPLATE = 9000
# step -> (method, path pattern) of the request that fails
STEPS = {
    "clone": ("POST", r"/clone$"),
    "config": ("PUT", r"/config$"),
    "start": ("POST", r"/status/start$"),
    "destroy": ("DELETE", r"/qemu/\d+$"),
}


class FakePve(StubApi):
    def __init__(self) -> None:
        super().__init__()
        self.nodes = {"pve1": (16, 65536), "pve2": (16, 65536), "pve3": (8, 32768)}
        self.vms: dict[int, dict[str, Any]] = {}
        self.faults: dict[str, int] = {}
        self.tasks = 0
        self.add_vm(
            TEMPLATE,
            "debian-12-cloud",
            "pve1",
            template=True,
            config={"scsi0": "vmstore:base-9000-disk-0,size=2G", "ide2": "vmstore:cloudinit,media=cdrom", "cores": "1"},
        )

    # ---------------------------------------------------------------- test helpers

    def add_vm(self, vmid: int, name: str, node: str, template: bool = False, **kw: Any) -> dict[str, Any]:
        config = dict({"name": name, "memory": "512", "cores": "1"}, **kw.pop("config", {}))
        vm = {"vmid": vmid, "node": node, "status": "stopped", "template": template, "pool": None, "config": config}
        vm.update(kw)
        self.vms[vmid] = vm
        return vm

    def fail(self, step: str, times: int = 1) -> None:
        self.faults[step] = times

    def by_name(self, name: str) -> list[dict[str, Any]]:
        return [vm for vm in self.vms.values() if vm["config"].get("name") == name]

    # ---------------------------------------------------------------- transport

    def __call__(self, path: str) -> Any:
        fake = self

        class Resource:
            def _do(self, method: str, params: dict[str, Any]) -> Any:
                fake.calls.append((method, path, params))
                for step, (m, pattern) in STEPS.items():
                    if m == method and re.search(pattern, path) and fake.faults.get(step):
                        fake.faults[step] -= 1
                        raise ProxmoxError("%s /%s failed: 500 boom (%s)" % (method, path, step), status=500)
                return fake.handle(method, path, params)

            def get(self, **params: Any) -> Any:
                return self._do("GET", params)

            def post(self, **params: Any) -> Any:
                return self._do("POST", params)

            def put(self, **params: Any) -> Any:
                return self._do("PUT", params)

            def delete(self, **params: Any) -> Any:
                return self._do("DELETE", params)

        return Resource()

    def _task(self, node: str, kind: str, vmid: Any) -> str:
        self.tasks += 1
        return upid(node, kind, vmid, self.tasks)

    def resources(self, kind: str | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if kind in (None, "node"):
            for node, (cores, mem) in sorted(self.nodes.items()):
                out.append(
                    {"type": "node", "node": node, "status": "online", "maxcpu": cores, "maxmem": mem * MiB, "mem": 0}
                )
        if kind in (None, "vm"):
            for vm in self.vms.values():
                c = vm["config"]
                size = re.search(r"size=(\d+)G", c.get("scsi0", ""))
                out.append(
                    {
                        "type": "qemu",
                        "vmid": vm["vmid"],
                        "node": vm["node"],
                        "name": c.get("name"),
                        "status": vm["status"],
                        "template": 1 if vm["template"] else 0,
                        "tags": c.get("tags", ""),
                        "pool": vm["pool"],
                        "maxcpu": int(c.get("cores", 1)),
                        "maxmem": int(c.get("memory", 512)) * MiB,
                        "maxdisk": int(size.group(1)) * GiB if size else 0,
                    }
                )
        return out

    def handle(self, method: str, path: str, params: dict[str, Any]) -> Any:
        if path == "cluster/resources":
            return self.resources(params.get("type"))
        if path == "cluster/nextid":
            return str(max([99, *self.vms]) + 1)
        if path == "pools" and method == "PUT":
            self.vms[int(params["vms"])]["pool"] = params["poolid"]
            return None
        task = re.match(r"^nodes/([^/]+)/tasks/([^/]+)/(status|log)$", path)
        if task:
            return {"status": "stopped", "exitstatus": "OK"} if task.group(3) == "status" else []
        m = re.match(r"^nodes/([^/]+)/qemu/(\d+)(/.*)?$", path)
        if not m:
            raise AssertionError("unexpected %s %s %r" % (method, path, params))
        node, vmid, tail = m.group(1), int(m.group(2)), m.group(3) or ""
        vm = self.vms.get(vmid)
        if vm is None or vm["node"] != node:
            raise ProxmoxError("%s /%s failed: 500 Configuration file does not exist" % (method, path), status=500)
        if tail == "/clone" and method == "POST":
            newid = int(params["newid"])
            if newid in self.vms:
                raise ProxmoxError("POST /%s failed: 500 VM %d already exists" % (path, newid), status=500)
            config = {k: v for k, v in vm["config"].items() if k != "template"}
            config["name"] = params.get("name") or "copy"
            config["scsi0"] = config["scsi0"].replace("base-%d" % vmid, "vm-%d" % newid)
            target = params.get("target") or node
            self.add_vm(newid, config["name"], target, config=config, pool=params.get("pool"))
            return self._task(node, "qmclone", vmid)
        if tail == "/pending" and method == "GET":
            return [{"key": k, "value": v} for k, v in vm["config"].items()]
        if tail == "/config" and method == "PUT":
            for key, value in params.items():
                if key in ("digest", "delete"):
                    continue
                vm["config"][key] = str(value)
            return None
        if tail == "/resize" and method == "PUT":
            vm["config"][params["disk"]] = re.sub(r"size=\w+", "size=%s" % params["size"], vm["config"]["scsi0"])
            return self._task(node, "resize", vmid)
        if tail == "/status/current":
            return {"status": vm["status"]}
        if tail == "/status/start":
            vm["status"] = "running"
            return self._task(node, "qmstart", vmid)
        if tail in ("/status/shutdown", "/status/stop"):
            vm["status"] = "stopped"
            return self._task(node, "qmstop", vmid)
        if tail == "" and method == "DELETE":
            del self.vms[vmid]
            return self._task(node, "qmdestroy", vmid)
        raise AssertionError("unexpected %s %s %r" % (method, path, params))
