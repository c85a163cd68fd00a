# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud_vm: the CreateVM flow as one task, over two layers.

State store (tenancy): the network of the project (networks.get_network), the reservation that checks the quota and
places the VM (reservations.ensure_reservation), the address lease (addresses.ensure_address).
Proxmox: the VM itself (vms.VmManager: clone, config, power, destroy) and what /cluster/resources shows
(vm_info.select).

Create, in order (docs/tenancy.md, "The CreateVM flow"):

    authorize -> reserve (quota + node) -> lease -> clone + configure -> bind the lease -> start -> commit

Each step that changes something pushes its compensation on a stack; any failure after the reservation
applies the stack in reverse (destroy the VM this run made, release the lease, drop the reservation) and fails
with the original error and what was undone. A VM that existed before the run is never rolled back: a rerun
converges it (lease bound, config, power, reservation committed). Check mode makes only reads and predicts.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming as naming
from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff, whole
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import IroncloudError, ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._naming import check_name
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox import sshkeys
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxClient
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.vm_info import select
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.vms import VmManager
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import ledger, reservations
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import usage as acct
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.addresses import ensure_address
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import (
    Conflict,
    NoPlacement,
    NotFound,
    TenancyError,
    check_int,
    check_login_user,
    check_owner,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.floating_ips import ensure_floating_ip
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.networks import get_network
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.networks import view as network_view
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, Tx

STATES = ("present", "started", "stopped", "absent")
DEFAULT_BRIDGE = "br-int"
DEFAULT_TIMEOUT = 300
NIC = "net0"
SIZE_KEYS = ("cores", "memory_mb", "disk_gb")
SOURCE = "cloud_vm"  # the source of the usage ledger rows this flow writes (floating IPs)

Resources = Sequence[Mapping[str, Any]]


# ------------------------------------------------------------------ input


def ssh_key_fingerprints(keys: Sequence[str]) -> list[str]:
    """SHA256 fingerprints of public keys (checked as PVE checks them), as ssh-keygen -l prints them."""
    out = []
    for n, line in enumerate(keys):
        sshkeys.check_line(line, "sshkeys[%d]" % n)
        words = line.split()
        blob = base64.b64decode(words[1] if words[0] in sshkeys.KEY_TYPES else words[2])
        out.append("SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("="))
    return out


def key_lines(value: Any) -> list[str]:
    """sshkeys as a list of non-empty lines (a list of keys, or one text with a key per line)."""
    items = value if isinstance(value, (list, tuple)) else [value] if value else []
    return [line.strip() for item in items for line in str(item).splitlines() if line.strip()]


@dataclass(frozen=True)
class Spec:
    """cloud_vm's parameters, checked."""

    tenant: str
    project: str
    name: str
    state: str
    network: str | None
    image: str | None
    cores: int | None
    memory_mb: int | None
    disk_gb: int | None
    address: str | None
    anti_affinity: tuple[str, ...]
    roles: tuple[str, ...]
    ciuser: str | None
    sshkeys: tuple[str, ...]
    pool: str
    bridge: str
    vmid: int | None
    vmid_range: tuple[int, ...] | None
    node: str | None
    full: bool | None
    storage: str | None
    timeout: int
    ttl: int
    ratios: Mapping[str, Any] = field(default_factory=dict)
    floating_ip: bool | None = None
    floating_ip_provider: str | None = None
    ssh_key_file: str | None = None
    dns_domain: str = ""

    @property
    def dns_name(self) -> str:
        return naming.vm_dns_name(self.name, self.project, self.tenant, self.dns_domain)

    @property
    def search_domain(self) -> str:
        return self.dns_name.split(".", 1)[1]

    @property
    def label(self) -> str:
        return "%s/%s/%s" % (self.tenant, self.project, self.name)

    @property
    def reservation(self) -> str:
        return naming.reservation_id(self.tenant, self.project, self.name)

    @property
    def owner(self) -> str:
        return naming.lease_owner(self.name, NIC)

    @property
    def tags(self) -> list[str]:
        own = {naming.tenant_tag(self.tenant), naming.project_tag(self.project)}
        return sorted(own | set(self.anti_affinity) | {naming.role_tag(role) for role in self.roles})


def spec_of(params: Mapping[str, Any]) -> Spec:
    """The checked parameters, or ValidationError naming the option and the rule (before anything is read)."""
    state = params.get("state") or "present"
    if state not in STATES:
        raise ValidationError("state: %r is not one of %s" % (state, ", ".join(STATES)), option="state")
    tenant = check_name("tenant", params.get("tenant"))
    project = check_name("project", params.get("project"))
    name = params.get("name")
    check_owner("name", name)
    sizes = dict(_size(params)) if state != "absent" else {}
    network = params.get("network")
    if network is not None:
        check_name("network", network)
    if state != "absent":
        for option, value in (("network", network), ("image", params.get("image"))):
            if value in (None, ""):
                raise ValidationError("%s is required with state=%s" % (option, state), option=option)
    sshkeys = key_lines(params.get("sshkeys"))
    ssh_key_fingerprints(sshkeys)
    anti = tuple(sorted({str(t).lower() for t in params.get("anti_affinity") or []}))
    roles = tuple(sorted({naming.check_role("roles", role) for role in params.get("roles") or []}))
    pool = params.get("pool")
    vmid_range = params.get("vmid_range")
    domain = str(params.get("dns_domain") or "").strip(".")
    if domain and not all(naming.is_name(part) for part in domain.split(".")):
        raise ValidationError("dns_domain: %r is not a domain of valid names" % domain, option="dns_domain")
    floating = params.get("floating_ip")
    if floating is not None and not isinstance(floating, bool):
        raise ValidationError("floating_ip: %r is not true or false" % floating, option="floating_ip")
    provider = params.get("floating_ip_provider")
    if provider is not None:
        check_name("floating_ip_provider", provider)
    return Spec(
        tenant=tenant,
        project=project,
        name=str(name),
        state=state,
        network=network,
        image=None if params.get("image") is None else str(params["image"]),
        cores=sizes.get("cores"),
        memory_mb=sizes.get("memory_mb"),
        disk_gb=sizes.get("disk_gb"),
        address=params.get("address") or None,
        anti_affinity=anti,
        roles=roles,
        ciuser=check_login_user("ciuser", params.get("ciuser")),
        sshkeys=tuple(sshkeys),
        pool=naming.proxmox_pool(tenant) if pool is None else str(pool),
        bridge=params.get("bridge") or DEFAULT_BRIDGE,
        vmid=check_int("vmid", params.get("vmid"), 100, 999999999, allow_none=True),
        vmid_range=tuple(int(v) for v in vmid_range) if vmid_range else None,
        node=params.get("node") or None,
        full=params.get("full_clone"),
        storage=params.get("storage") or None,
        timeout=check_int("timeout", params.get("timeout") or DEFAULT_TIMEOUT, 1) or DEFAULT_TIMEOUT,
        ttl=check_int("reservation_ttl", params.get("reservation_ttl") or reservations.DEFAULT_TTL, 1)
        or reservations.DEFAULT_TTL,
        ratios={
            k: params[k]
            for k in ("cpu_allocation_ratio", "ram_allocation_ratio", "reserved_host_memory_mb")
            if params.get(k) is not None
        },
        floating_ip=floating,
        floating_ip_provider=provider,
        ssh_key_file=(params.get("ssh_key_file") or None) if not params.get("sshkeys_given") else None,
        dns_domain=domain,
    )


def read_public_key(path: str) -> str | None:
    """A public key file's text, or None when there is none (only .pub files are ever read)."""
    if not path.endswith(".pub") or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read()


def resolve_ssh_key(params: Mapping[str, Any], read: Callable[[str], str | None]) -> dict[str, Any]:
    """cloud_vm's parameters with the key pair resolved: without sshkeys, the public key of ssh_key_file (or of the
    tenant's key pair in credentials_dir, _naming.tenant_ssh_key) becomes sshkeys; with sshkeys, ssh_key_file is
    null (the caller holds its own private key). read(path) returns a file's text or None."""
    out = dict(params)
    if key_lines(params.get("sshkeys")):
        out.update(ssh_key_file=None, sshkeys_given=True)
        return out
    path, option = params.get("ssh_key_file"), "ssh_key_file"
    if not path and params.get("credentials_dir") and params.get("state") != "absent":
        tenant = check_name("tenant", params.get("tenant"))
        path, option = (
            "%s/%s" % (str(params["credentials_dir"]).rstrip("/"), naming.tenant_ssh_key(tenant)),
            "credentials_dir",
        )
    if not path or params.get("state") == "absent":
        out["ssh_key_file"] = None
        return out
    public = read(str(path) + ".pub")
    if public is None:
        raise ValidationError(
            "%s: no public key %s.pub (the tenant role makes the tenant's key pair; or give sshkeys)" % (option, path),
            option=option,
        )
    out.update(sshkeys=key_lines(public), ssh_key_file=str(path))
    return out


def _size(params: Mapping[str, Any]) -> dict[str, int]:
    """cores, memory_mb and disk_gb: from size (a name of sizes) or given one by one."""
    size = params.get("size")
    given = {k: params.get(k) for k in SIZE_KEYS if params.get(k) is not None}
    if size is not None:
        if given:
            raise ValidationError("size: give size or %s, not both" % ", ".join(sorted(given)), option="size")
        sizes = params.get("sizes") or {}
        if size not in sizes:
            raise ValidationError(
                "size: %r is not one of the sizes (%s)" % (size, ", ".join(sorted(sizes)) or "none defined"),
                option="size",
            )
        flavour = sizes[size]
        if not isinstance(flavour, Mapping):
            raise ValidationError("sizes.%s: must be a dict of %s" % (size, ", ".join(SIZE_KEYS)), option="sizes")
        given = {k: flavour.get(k) for k in SIZE_KEYS}
        where = "sizes.%s." % size
    else:
        where = ""
    out = {}
    for key, minimum in (("cores", 1), ("memory_mb", 16), ("disk_gb", 1)):
        if given.get(key) is None:
            raise ValidationError(
                "%s%s is required (give size or cores, memory_mb and disk_gb)" % (where, key), option=key
            )
        out[key] = check_int(where + key, given[key], minimum) or minimum
    return out


# ------------------------------------------------------------------ compensations


class Undo:
    """The compensations of the steps done so far, applied in reverse order on a failure."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Callable[[], bool]]] = []

    def push(self, what: str, undo: Callable[[], bool]) -> None:
        """undo() compensates a step; it returns whether it had anything to undo."""
        self.steps.append((what, undo))

    def rollback(self) -> tuple[list[str], list[str]]:
        """Apply every compensation, newest first, each even if one before failed: (done, failures)."""
        done, failed = [], []
        for what, undo in reversed(self.steps):
            try:
                if undo():
                    done.append(what)
            except IroncloudError as e:
                failed.append("%s: %s" % (what, e.message))
        self.steps.clear()
        return done, failed


class CreateFailed(IroncloudError):
    """A step of the CreateVM flow failed; what was done before it has been rolled back (details say what)."""


# ------------------------------------------------------------------ the flow


class VmFlow:
    """Converge one VM of a tenant's project to cloud_vm's parameters."""

    def __init__(
        self,
        store: Store,
        api: ProxmoxClient,
        params: Mapping[str, Any],
        check_mode: bool,
        now: float,
        placement: Callable[[], Resources] | None = None,
    ) -> None:
        self.store = store
        self.api = api
        self.params = params
        self.check = check_mode
        self.now = now
        self.placement = placement
        self.step = ""

    # ---------------------------------------------------------------- entry

    def run(self) -> dict[str, Any]:
        spec = spec_of(self.params)
        self._authorize(spec)
        if spec.state == "absent":
            return self._absent(spec)
        network = self._network(spec)
        resources = self.api.resources()
        existing = self._find(resources, spec)
        if existing is not None:
            self._check_owner(existing, spec, creating=True)
            return self._converge(spec, network, existing)
        image = self._image(resources, spec)
        return self._create(spec, network, resources, image)

    def _authorize(self, spec: Spec) -> None:
        token_id = self.api.params.get("api_token_id")
        caller = naming.tenant_of_token(token_id)
        if caller is not None and caller != spec.tenant:
            raise Conflict(
                "refused: the API token %s is tenant %s's and may not act for tenant %s (VM %s); nothing was changed"
                % (token_id, caller, spec.tenant, spec.label),
                option="tenant",
            )

    def _network(self, spec: Spec) -> dict[str, Any]:
        def read(tx: Tx) -> dict[str, Any]:
            acct.tenant_row(tx, spec.tenant)
            acct.project_exists(tx, spec.tenant, spec.project)
            row = get_network(tx, spec.tenant, spec.project, str(spec.network))
            if row is None:
                raise NotFound(
                    "network: %r is not a network of project %s/%s" % (spec.network, spec.tenant, spec.project),
                    option="network",
                )
            return network_view(row)

        return self.store.run(read, write=False)

    def _find(self, resources: Resources, spec: Spec) -> dict[str, Any] | None:
        found = select(resources, name=spec.name)
        if len(found) > 1:
            raise Conflict(
                "name: %d VMs are named %s (vmids %s); VM names are unique in the cloud"
                % (len(found), spec.name, ", ".join(str(v["vmid"]) for v in found)),
                option="name",
            )
        return found[0] if found else None

    def _check_owner(self, vm: Mapping[str, Any], spec: Spec, creating: bool) -> None:
        tags = set(vm["tags"])
        if {naming.tenant_tag(spec.tenant), naming.project_tag(spec.project)} <= tags:
            return
        if creating:
            raise Conflict(
                "refused: a VM named %s exists (vmid %s, tags %s) and is not %s's; VM names are unique in the cluster"
                % (spec.name, vm["vmid"], ",".join(sorted(tags)) or "none", spec.label),
                option="name",
                vmid=vm["vmid"],
            )
        owners = sorted(t for t in tags if t.startswith(("ic-tenant-", "ic-project-")))
        raise Conflict(
            "refused: VM %s (vmid %s) belongs to %s, not to %s; nothing was destroyed"
            % (spec.name, vm["vmid"], ", ".join(owners) or "no tenant (it has no ic-tenant tag)", spec.label),
            option="name",
            vmid=vm["vmid"],
        )

    def _image(self, resources: Resources, spec: Spec) -> dict[str, Any]:
        ref = str(spec.image)
        for vm in select(resources, templates=True):
            if (ref.isdigit() and vm["vmid"] == int(ref)) or vm["name"] == ref:
                if not vm["template"]:
                    raise ValidationError(
                        "image: %s (vmid %s) is a VM, not a template" % (ref, vm["vmid"]), option="image"
                    )
                return vm
        raise ValidationError(
            "image: no template %r (by name or VMID) in the cluster, or the connection may not see it" % ref,
            option="image",
        )

    # ---------------------------------------------------------------- pieces reused by every path

    def _vm_params(self, spec: Spec, network: Mapping[str, Any], address: str | None, **extra: Any) -> dict[str, Any]:
        """proxmox_vm's parameters for the VM (VmManager): config, cloud-init, NIC on the project network, tags."""
        params: dict[str, Any] = dict(
            name=spec.name,
            cores=spec.cores,
            memory=spec.memory_mb,
            disks=[{"key": "scsi0", "size": "%dG" % int(spec.disk_gb or 0)}],
            nets=[{"model": "virtio", "bridge": spec.bridge, "tag": network["tag"], "mtu": network["mtu"]}],
            tags=spec.tags,
            pool=spec.pool or None,
            timeout=spec.timeout,
            state="present",
        )
        if spec.ciuser:
            params["ciuser"] = spec.ciuser
        if spec.sshkeys:
            params["sshkeys"] = list(spec.sshkeys)
        if address is not None:
            params["ipconfig"] = [{"ip": "%s/%s" % (address, network["prefix_length"]), "gw": network["gateway"]}]
            # The project's router serves the project's names on the gateway address (ovs_router dns).
            params["nameserver"] = network["gateway"]
            params["searchdomain"] = spec.search_domain
        params.update(extra)
        return params

    def _lease(self, spec: Spec, vmid: int | None = None, check: bool | None = None) -> dict[str, Any]:
        return ensure_address(
            self.store,
            {
                "tenant": spec.tenant,
                "project": spec.project,
                "network": spec.network,
                "owner": spec.owner,
                "address": spec.address,
                "vmid": vmid,
                # the guest's login user, for the inventory's ansible_user (None: the lease keeps the one it has)
                "login_user": spec.ciuser,
            },
            self.check if check is None else check,
            self.now,
        )

    def _release_lease(self, spec: Spec, network: str) -> bool:
        params = {"tenant": spec.tenant, "project": spec.project, "network": network, "owner": spec.owner}
        return bool(ensure_address(self.store, dict(params, state="absent"), self.check, self.now)["changed"])

    def _floating_params(self, spec: Spec, **kw: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"tenant": spec.tenant, "project": spec.project}
        if spec.floating_ip_provider:
            params["provider"] = spec.floating_ip_provider
        params.update(kw)
        return params

    def _associate_floating(self, spec: Spec) -> dict[str, Any]:
        """The VM's floating IP (allocated from the provider pool unless it has one), associated with its address."""
        params = self._floating_params(spec, vm=spec.name, nic=NIC, state="present")
        return ensure_floating_ip(self.store, params, self.check, self.now, source=SOURCE)

    def _floating_rows(self, spec: Spec) -> list[dict[str, Any]]:
        return self.store.run(
            lambda tx: tx.all(
                "SELECT provider, address FROM floating_ips WHERE tenant = ? AND project = ? AND vm = ? "
                "ORDER BY addr_int",
                (spec.tenant, spec.project, spec.name),
            ),
            write=False,
        )

    def _release_floating(self, spec: Spec) -> bool:
        """Release every floating IP associated with the VM (back to the provider pool)."""
        changed = False
        for row in self._floating_rows(spec):
            params = self._floating_params(spec, provider=row["provider"], address=row["address"], state="absent")
            released = ensure_floating_ip(self.store, params, self.check, self.now, source=SOURCE)
            changed = bool(released["changed"]) or changed
        return changed

    def _reservation(self, spec: Spec) -> dict[str, Any] | None:
        row = self.store.run(
            lambda tx: tx.one("SELECT * FROM reservations WHERE id = ?", (spec.reservation,)), write=False
        )
        return None if row is None else reservations.view(row, self.now)

    def _drop_reservation(self, spec: Spec) -> bool:
        params = {"id": spec.reservation, "tenant": spec.tenant, "state": "absent"}
        return bool(reservations.ensure_reservation(self.store, params, _no_cluster, self.check, self.now)["changed"])

    def _commit(self, spec: Spec, vmid: int) -> dict[str, Any]:
        params = {"id": spec.reservation, "vmid": vmid, "state": "committed"}
        return reservations.ensure_reservation(self.store, params, _no_cluster, self.check, self.now)

    def _record_power(self, vmid: int, done: Sequence[str]) -> None:
        """The usage ledger learns when a VM of the cloud was started or stopped (billing charges by state)."""
        events = [a for a in done if a in ("started", "stopped")]
        if events:
            self.store.run(lambda tx: ledger.record_vm(tx, vmid, events[-1], self.now))

    def _destroy(self, vmid: int, timeout: int) -> bool:
        result = VmManager(self.api, {"vmid": vmid, "state": "absent", "timeout": timeout}, self.check).ensure()
        return bool(result["changed"])

    def _result(
        self,
        spec: Spec,
        changed: bool,
        vm: Mapping[str, Any] | None,
        network: Mapping[str, Any] | None,
        address: str | None,
        msg: str,
        diff: Mapping[str, Any],
        **extra: Any,
    ) -> dict[str, Any]:
        view = None
        floating = extra.pop("floating_ip", None)
        if vm is not None:
            view = {
                "vmid": vm.get("vmid"),
                "node": vm.get("node"),
                "name": spec.name,
                "tenant": spec.tenant,
                "project": spec.project,
                "network": spec.network,
                "address": "%s/%s" % (address, network["prefix_length"]) if address and network else None,
                "gateway": network["gateway"] if network else None,
                "status": vm.get("status"),
                "cores": spec.cores,
                "memory_mb": spec.memory_mb,
                "disk_gb": spec.disk_gb,
                "pool": spec.pool or None,
                "reservation": spec.reservation,
                "ssh_user": spec.ciuser,
                "ssh_key_fingerprints": ssh_key_fingerprints(spec.sshkeys),
                "ssh_key_file": spec.ssh_key_file,
                "floating_ip": floating,
                "dns_name": spec.dns_name,
            }
        out: dict[str, Any] = {"changed": changed, "vm": view, "msg": msg, "diff": dict(diff)}
        out.update(extra)
        return out

    # ---------------------------------------------------------------- create

    def _create(
        self, spec: Spec, network: Mapping[str, Any], resources: Resources, image: Mapping[str, Any]
    ) -> dict[str, Any]:
        have = self._reservation(spec)
        if have is not None and have["state"] == "committed":
            raise Conflict(
                "reservation %s is committed to VM %s, which does not exist (destroyed outside the cloud?): run "
                "cloud_reconcile, then create %s again" % (spec.reservation, have["vmid"], spec.label),
                option="name",
            )
        before_vmids = {int(r["vmid"]) for r in resources if r.get("vmid") is not None}
        undo = Undo()
        actions: list[str] = []
        self.step = "reserve"
        vmid: int | None = None
        try:
            reserved = reservations.ensure_reservation(
                self.store, self._reserve_params(spec), lambda: self._cluster(resources), self.check, self.now
            )
            node = reserved["reservation"]["node"]
            undo.push("reservation dropped", lambda: self._drop_reservation(spec))
            actions.append("reserved on %s" % node)

            self.step = "lease"
            undo.push("address released", lambda: self._release_lease(spec, str(spec.network)))
            lease = self._lease(spec)
            address = lease["address"]
            actions.append("leased %s" % address)

            floating = None
            if spec.floating_ip:
                # Before the clone: a project without a router (or an exhausted pool) fails before a VM is made.
                self.step = "floating_ip"
                if self.check:
                    actions.append("would allocate a floating IP")
                else:
                    undo.push("floating IP released", lambda: self._release_floating(spec))
                    floating = self._associate_floating(spec)["address"]
                    actions.append("floating IP %s" % floating)

            self.step = "clone"
            undo.push("VM destroyed", lambda: self._destroy_new(spec, vmid, before_vmids))
            # The clone first (its VMID is then known to the rollback), then config, cloud-init, NIC and tags in
            # one request (and the disk's resize).
            extra: dict[str, Any] = {"clone": str(image["vmid"]), "node": node}
            if spec.vmid is not None:
                extra["vmid"] = spec.vmid
            if spec.vmid_range:
                extra["vmid_range"] = list(spec.vmid_range)
            if spec.full is not None:
                extra["full"] = spec.full
            if spec.storage:
                extra["storage"] = spec.storage
            clone = dict(extra, name=spec.name, pool=spec.pool or None, timeout=spec.timeout, state="present")
            made = VmManager(self.api, clone, self.check).ensure()
            vmid = made["vm"]["vmid"]
            actions.extend(made["actions"])
            self.step = "config"
            if not self.check:
                params = self._vm_params(spec, network, address, vmid=vmid)
                actions.extend(VmManager(self.api, params, self.check).ensure()["actions"])
            status = "stopped"
            if not self.check and vmid is not None:
                self.step = "bind"
                self._lease(spec, vmid)
                actions.append("bound %s to %s" % (address, vmid))
            if spec.state in ("present", "started"):
                self.step = "start"
                if not self.check and vmid is not None:
                    VmManager(
                        self.api, {"vmid": vmid, "state": "started", "timeout": spec.timeout}, self.check
                    ).ensure()
                status = "running"
                actions.append("started")
            if not self.check and vmid is not None:
                self.step = "commit"
                self._commit(spec, vmid)
                actions.append("committed")
        except IroncloudError as e:
            if self.check:
                raise
            done, failed = undo.rollback()
            if isinstance(e, NoPlacement):
                self.step = "place"
            raise self._failed(spec, self.step, e, done, failed) from None
        vm = {"vmid": vmid, "node": node, "status": status}
        result = self._result(spec, True, vm, network, address, "", {}, actions=actions, floating_ip=floating)
        result["diff"] = whole(None, result["vm"])
        result["msg"] = "%s %s: vmid %s on %s, address %s" % (
            "would create" if self.check else "created",
            spec.label,
            vmid if vmid is not None else "(new)",
            node,
            result["vm"]["address"],
        )
        return result

    def _reserve_params(self, spec: Spec) -> dict[str, Any]:
        params: dict[str, Any] = {
            "id": spec.reservation,
            "tenant": spec.tenant,
            "project": spec.project,
            "name": spec.name,
            "cores": spec.cores,
            "memory_mb": spec.memory_mb,
            "disk_gb": spec.disk_gb,
            "addresses": 1,
            "ttl": spec.ttl,
            "anti_affinity": list(spec.anti_affinity),
            "node": spec.node,
            "state": "present",
        }
        params.update(spec.ratios)
        return params

    def _cluster(self, resources: Resources) -> reservations.Cluster:
        """What placement reads: the placement connection's /cluster/resources, else the answer already read."""
        self.step = "place"
        seen = list(self.placement() if self.placement is not None else resources)
        if not any(r.get("type") == "node" for r in seen):
            raise NoPlacement(
                "placement: the connection sees no node of the cluster (a tenant's token sees only its pool): give "
                "placement_api_token_id and placement_api_token_secret of a token that may audit the cluster",
                option="placement_api_token_id",
            )
        self.step = "reserve"
        return reservations.Cluster(seen)

    def _destroy_new(self, spec: Spec, vmid: int | None, before: set[int]) -> bool:
        """Destroy the VM this run made: by its VMID once known, else the VM of that name that was not there before
        (a clone that failed half-way) and carries no other tenant's tag."""
        if vmid is None:
            ours = naming.tenant_tag(spec.tenant)
            fresh = [
                vm
                for vm in select(self.api.resources(), name=spec.name)
                if vm["vmid"] not in before and not any(t.startswith("ic-tenant-") and t != ours for t in vm["tags"])
            ]
            destroyed = False
            for vm in fresh:
                destroyed = self._destroy(vm["vmid"], spec.timeout) or destroyed
            return destroyed
        return self._destroy(vmid, spec.timeout)

    def _failed(
        self, spec: Spec, step: str, error: IroncloudError, done: list[str], failed: list[str]
    ) -> IroncloudError:
        if failed:
            tail = "%s; the rollback itself failed: %s; run cloud_reconcile" % (
                ", ".join(done) or "nothing undone",
                "; ".join(failed),
            )
        else:
            tail = "rolled back: %s" % (", ".join(done) or "nothing was made")
        return CreateFailed(
            "creating VM %s failed at %s: %s (%s)" % (spec.label, step, error.message, tail),
            step=step,
            error=error.message,
            error_details=dict(error.details),
            rolled_back=done,
            rollback_failed=failed,
        )

    # ---------------------------------------------------------------- converge an existing VM

    def _converge(self, spec: Spec, network: Mapping[str, Any], vm: Mapping[str, Any]) -> dict[str, Any]:
        vmid = int(vm["vmid"])
        diff = Diff()
        actions: list[str] = []
        reservation = self._reservation(spec)
        unfinished = reservation is not None and reservation["state"] != "committed"
        lease = self._lease(spec, vmid)
        address = lease["address"]
        if lease["changed"]:
            for key, before in lease["diff"]["before"].items():
                diff.compare("lease.%s" % key, before, lease["diff"]["after"].get(key))
            after = lease["diff"]["after"]
            if "address" in after:
                actions.append("address leased")
            else:
                actions.extend(
                    what
                    for key, what in (("vmid", "lease bound"), ("login_user", "login user recorded"))
                    if key in after
                )
        power = spec.state
        if spec.state == "present" and unfinished:
            power = "started"  # an interrupted create is finished: the VM runs
        converged = VmManager(
            self.api, self._vm_params(spec, network, address, vmid=vmid, state=power), self.check
        ).ensure()
        for key, before in converged["diff"]["before"].items():
            diff.compare(key, before, converged["diff"]["after"].get(key))
        for key, after in converged["diff"]["after"].items():
            if key not in converged["diff"]["before"]:
                diff.compare(key, None, after)
        actions.extend(converged["actions"])
        if unfinished:
            self._commit(spec, vmid)
            diff.compare("reservation", reservation["state"] if reservation else None, "committed")
            actions.append("committed")
        elif not self.check:
            self._record_power(vmid, converged["actions"])
        floating = self._converge_floating(spec, diff, actions)
        changed = diff.changed
        result = self._result(
            spec,
            changed,
            converged["vm"],
            network,
            address,
            "%s %s (vmid %s)"
            % (
                "would converge" if self.check and changed else "converged" if changed else "unchanged",
                spec.label,
                vmid,
            ),
            diff.as_dict(),
            actions=actions,
            floating_ip=floating,
        )
        return result

    def _converge_floating(self, spec: Spec, diff: Diff, actions: list[str]) -> str | None:
        """floating_ip true: the VM has one; false: it has none; unset: whatever it has is left alone."""
        rows = self._floating_rows(spec)
        have = rows[0]["address"] if rows else None
        if spec.floating_ip:
            address = self._associate_floating(spec)["address"]
            if address != have:
                diff.compare("floating_ip", have, address)
                actions.append("floating IP %s" % address)
            return str(address)
        if spec.floating_ip is False and have is not None:
            self._release_floating(spec)
            diff.compare("floating_ip", have, None)
            actions.append("floating IP released")
            return None
        return have

    # ---------------------------------------------------------------- absent

    def _absent(self, spec: Spec) -> dict[str, Any]:
        found = select(self.api.resources(), name=spec.name)
        for vm in found:
            self._check_owner(vm, spec, creating=False)
        actions = []
        before = None
        for vm in found:
            if self._destroy(vm["vmid"], spec.timeout):
                actions.append("destroyed")
            before = {"vmid": vm["vmid"], "node": vm["node"], "name": spec.name, "status": vm["status"]}
        if self._release_floating(spec):
            actions.append("floating IP released")
        networks = [spec.network] if spec.network else self._lease_networks(spec)
        for network in networks:
            if self._release_lease(spec, str(network)):
                actions.append("address released")
        for vm in found:
            params = {"vmid": vm["vmid"], "tenant": spec.tenant, "state": "absent"}
            if reservations.ensure_reservation(self.store, params, _no_cluster, self.check, self.now)["changed"]:
                actions.append("usage released")
        if self._drop_reservation(spec):
            actions.append("reservation dropped")
        changed = bool(actions)
        after = {"vmid": None, "node": None, "name": spec.name, "status": "absent"}
        return self._result(
            spec,
            changed,
            dict(after, vmid=before["vmid"] if before else None, node=before["node"] if before else None),
            None,
            None,
            "%s %s" % ("would destroy" if self.check and changed else "destroyed" if changed else "no VM", spec.label),
            whole(before, after) if changed else whole(None, None),
            actions=actions,
        )

    def _lease_networks(self, spec: Spec) -> list[str]:
        rows = self.store.run(
            lambda tx: tx.all(
                "SELECT network FROM leases WHERE tenant = ? AND project = ? AND owner = ? ORDER BY network",
                (spec.tenant, spec.project, spec.owner),
            ),
            write=False,
        )
        return [r["network"] for r in rows]


def _no_cluster() -> reservations.Cluster:
    raise TenancyError("internal error: placement read for a commit or a release")


def ensure_vm(
    store: Store,
    api: ProxmoxClient,
    params: Mapping[str, Any],
    check_mode: bool,
    now: float,
    placement: Callable[[], Resources] | None = None,
) -> dict[str, Any]:
    """cloud_vm's logic (see the top of this file)."""
    return VmFlow(store, api, params, check_mode, now, placement).run()


def placement_reader(params: Mapping[str, Any]) -> Callable[[], Resources] | None:
    """What placement reads /cluster/resources with when placement_api_token_id is given: a client of its own
    (made only when placement runs), the rest of the connection options as the module's."""
    token = params.get("placement_api_token_id")
    if not token:
        return None
    placement = dict(params, api_token_id=token, api_token_secret=params.get("placement_api_token_secret"))
    placement.update(api_user=None, api_password=None)
    return lambda: ProxmoxClient(placement).resources()
