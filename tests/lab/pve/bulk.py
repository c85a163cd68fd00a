"""Bulk lab data: thousands of VMs and extra nodes added directly in the fake, for inventory tests and benchmarks.

    LabPveControl().call("populate", 5000, ["bulk01", ..., "bulk16"], prefix="bulk-")
    LabPveControl().call("clear_vms", "bulk-")

populate() is deterministic: VM i (from 0) is VMID first_vmid + i, named <prefix><i:05d>, on nodes[i % len(nodes)],
of tenant tenants[i % len(tenants)] and project projects[(i // len(tenants)) % len(projects)], with role tag
roles[i % len(roles)] (none for ""), running when i % running_every == 0, else stopped. Nodes the fake does not know
yet are added with set_capacity and removed again by clear_vms(prefix) once they hold no VM.

Requests of one client, while other tests share the lab: add_api_token("root@pam!mytest", secret) adds a token whose
requests are tallied; token_requests("root@pam!mytest", since) lists them ({method, path}) from index since on.
The request log (requests.jsonl) only says whether a request used a token, not which one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MiB = 1024 * 1024


class BulkMixin:
    bulk_nodes: dict[str, list[str]]
    # token id -> the requests made with it, for the tokens add_api_token created
    token_tally: dict[str, list[dict[str, str]]]

    def add_api_token(self, tokenid: str, secret: str) -> None:
        """An API token ('user@realm!name') of the admin's rights whose requests token_requests() lists."""
        if "!" not in tokenid:
            raise ValueError("a token id is user@realm!name")
        self.apitokens[tokenid] = secret
        if not hasattr(self, "token_tally"):
            self.token_tally = {}
        self.token_tally.setdefault(tokenid, [])

    def remove_api_token(self, tokenid: str) -> None:
        self.apitokens.pop(tokenid, None)
        getattr(self, "token_tally", {}).pop(tokenid, None)

    def token_requests(self, tokenid: str, since: int = 0) -> list[dict[str, str]]:
        return list(getattr(self, "token_tally", {}).get(tokenid, [])[since:])

    def _record(self, request: Any, body: Any) -> None:
        super()._record(request, body)  # type: ignore[misc]
        tally = getattr(self, "token_tally", None)
        who = request.headers.get("Authorization", "")
        if tally and who.startswith("PVEAPIToken="):
            tokenid = who[len("PVEAPIToken=") :].split("=", 1)[0]
            if tokenid in tally:
                tally[tokenid].append({"method": request.method, "path": request.path[len("/api2/json") :]})

    def populate(
        self,
        count: int,
        nodes: Sequence[str],
        prefix: str = "bulk-",
        first_vmid: int = 100000,
        tenants: Sequence[str] = ("acme", "globex"),
        projects: Sequence[str] = ("web", "db"),
        roles: Sequence[str] = ("k3s-server", "k3s-agent", ""),
        running_every: int = 2,
        cores: int = 2,
        memory_mb: int = 2048,
        disk_gb: int = 16,
        node_cores: int = 128,
        node_memory_mb: int = 1048576,
    ) -> dict[str, Any]:
        """Add count VMs over nodes (new nodes get node_cores / node_memory_mb); a summary of what was added."""
        if not nodes:
            raise ValueError("populate needs at least one node")
        if not prefix:
            raise ValueError("populate needs a name prefix, so clear_vms can remove exactly its VMs")
        taken = {vm.vmid for vm in self.vms} | {ct.vmid for ct in getattr(self, "cts", [])}
        wanted = set(range(first_vmid, first_vmid + count))
        clash = sorted(taken & wanted)
        if clash:
            raise ValueError(
                "VMIDs %d..%d clash with existing guests (first %d)" % (first_vmid, first_vmid + count - 1, clash[0])
            )
        if not hasattr(self, "bulk_nodes"):
            self.bulk_nodes = {}
        added = self.bulk_nodes.setdefault(prefix, [])
        for node in nodes:
            if node not in self.nodes:
                self.set_capacity(node, node_cores, node_memory_mb)
                added.append(node)
        for i in range(count):
            tags = (
                [
                    "ic-tenant-%s" % tenants[i % len(tenants)],
                    "ic-project-%s" % projects[(i // len(tenants)) % len(projects)],
                ]
                if tenants
                else []
            )
            role = roles[i % len(roles)] if roles else ""
            if role:
                tags.append("ic-%s" % role)
            name = "%s%05d" % (prefix, i)
            config = {
                "cores": cores,
                "sockets": 1,
                "memory": memory_mb,
                "tags": ";".join(tags),
                "scsi0": "local-lvm:vm-%d-disk-0,size=%dG" % (first_vmid + i, disk_gb),
                "net0": "virtio=BC:24:11:%02X:%02X:%02X,bridge=vmbr0" % ((i >> 16) & 255, (i >> 8) & 255, i & 255),
            }
            status = "running" if running_every and i % running_every == 0 else "stopped"
            self.add_vm(first_vmid + i, name, node=nodes[i % len(nodes)], status=status, config=config)
        return {"vms": count, "nodes": list(nodes), "nodes_added": list(added), "first_vmid": first_vmid}

    def clear_vms(self, prefix: str) -> dict[str, Any]:
        """Remove the VMs whose name starts with prefix, then the nodes populate(prefix=...) added.

        A node that holds a guest of someone else (a concurrent test placed one there) stays, and stays on the
        list: the next clear_vms(prefix) removes it once it is empty (nodes_kept says which).
        """
        if not prefix:
            raise ValueError("clear_vms needs a name prefix")
        gone = [vm for vm in self.vms if str(vm.name or "").startswith(prefix)]
        ids = {vm.vmid for vm in gone}
        self.vms[:] = [vm for vm in self.vms if vm.vmid not in ids]
        for members in self.pools.values():
            members -= ids
        added = getattr(self, "bulk_nodes", {}).get(prefix, [])
        removed_nodes = self.remove_nodes(added)
        kept = [node for node in added if node not in removed_nodes]
        if kept:
            self.bulk_nodes[prefix] = kept
        else:
            getattr(self, "bulk_nodes", {}).pop(prefix, None)
        return {"vms_removed": len(ids), "nodes_removed": removed_nodes, "nodes_kept": kept}

    def remove_nodes(self, names: list[str]) -> list[str]:
        """Remove these nodes from the cluster, those that hold no guest; the removed ones."""
        removed = []
        for node in names:
            if any(vm.node == node for vm in self.vms) or any(ct.node == node for ct in getattr(self, "cts", [])):
                continue
            if node in self.nodes:
                self.nodes.pop(node, None)
                self.node_capacity.pop(node, None)
                removed.append(node)
        return removed
