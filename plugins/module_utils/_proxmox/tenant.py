# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""proxmox_tenant: a tenant's side of Proxmox VE, its pool, group, user, API token and ACLs.

Names for tenant <t>: pool `ic-<t>`, group `ic-<t>`, user `ic-<t>@pve`, token `ic-<t>@pve!<token_name>`
(privilege-separated). The group and the token get `role` on /pool/ic-<t> (a privsep token holds the
intersection of its user's privileges and its own, so both need the entry), `storage_role` on
/storage/<s> for each of `storages` (to allocate disks there), and PVETemplateUser (VM.Clone and VM.Audit, nothing
else) on each of `templates`: a pool of templates (/pool/<p>) or a template's VMID (/vms/<id>), so the tenant's
token can clone the shared templates into its pool but not start, change or destroy them.

Every storage and template named must exist before anything changes (a typo would otherwise give ACLs on
nothing). The default of `templates` is the shared pool TEMPLATES_POOL, created empty when missing.

Reads: GET /pools, /access/groups, /access/users, /access/acl, /access/roles, the user's tokens, /storage (with
`storages`) and /cluster/resources?type=vm (with a template VMID); a rerun with nothing to do makes only these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxClient, ProxmoxError

USERID_RE = re.compile(r"^[^\s:/@]+@[A-Za-z][A-Za-z0-9.\-_]+$")
COMMENT = "ironcloud tenant %s"
# The shared pool of the templates every tenant may clone (the default of `templates`). Not `ic-<name>`: that is
# a tenant's pool, and a tenant named `templates` must not own the shared templates.
TEMPLATES_POOL = "ironcloud-templates"
TEMPLATES_COMMENT = "ironcloud templates: every tenant may clone these (PVETemplateUser)"
# PVE's built-in role with VM.Clone and VM.Audit only.
TEMPLATE_ROLE = "PVETemplateUser"

Acl = tuple[str, str, str, str]  # path, type, ugid, roleid


def names(tenant: str, token_name: str) -> dict[str, str]:
    n = _naming.tenant_names(tenant, token_name)
    return {"pool": n["pool"], "group": n["group"], "user": n["user"], "token": n["token_id"]}


def wanted_acls(
    n: Mapping[str, str],
    role: str,
    storages: list[str],
    storage_role: str,
    token: bool,
    template_paths: list[str] | None = None,
) -> set[Acl]:
    out: set[Acl] = set()
    holders = [("group", n["group"])] + ([("token", n["token"])] if token else [])
    for kind, ugid in holders:
        out.add(("/pool/%s" % n["pool"], kind, ugid, role))
        for sid in storages:
            out.add(("/storage/%s" % sid, kind, ugid, storage_role))
        for path in template_paths or []:
            out.add((path, kind, ugid, TEMPLATE_ROLE))
    return out


def template_paths(templates: list[str]) -> list[str]:
    """The ACL paths of `templates`: /vms/<vmid> for a VMID, /pool/<name> for a pool of templates."""
    return sorted({"/vms/%s" % t if t.isdigit() else "/pool/%s" % t for t in templates})


class TenantManager:
    def __init__(self, client: ProxmoxClient, params: Mapping[str, Any], check_mode: bool = False) -> None:
        self.api = client
        self.p = params
        self.check = check_mode
        self.timeout = float(params.get("timeout") or 300)
        self.before: dict[str, Any] = {}
        self.after: dict[str, Any] = {}
        self.changed = False

    def _validate(self) -> dict[str, str]:
        p = self.p
        _naming.check_name("name", p["name"])
        n = names(p["name"], p.get("token_name") or "ironcloud")
        for user in p.get("users") or []:
            if not USERID_RE.match(user):
                raise ValidationError("users: %r is not a PVE user id (name@realm)" % user)
        for sid in p.get("storages") or []:
            if not re.match(r"^[a-z][a-z0-9\-_.]*[a-z0-9]$", sid):
                raise ValidationError("storages: %r is not a storage id" % sid)
        for item in self._templates():
            if not re.match(r"^([1-9][0-9]{2,8}|[A-Za-z][A-Za-z0-9\-_]*)$", item):
                raise ValidationError("templates: %r is neither a VMID nor a pool name" % item)
            if item == n["pool"]:
                raise ValidationError("templates: %r is the tenant's own pool" % item)
        return n

    def _templates(self) -> list[str]:
        """`templates` as strings; not given (None) is the shared pool TEMPLATES_POOL."""
        given = self.p.get("templates")
        if given is None:
            return [TEMPLATES_POOL]
        return sorted({str(t).strip() for t in given})

    def _check_storages(self, storages: list[str]) -> None:
        """Every storage of `storages` exists in the cluster's storage config (GET /storage)."""
        if not storages:
            return
        known = {s["storage"] for s in self.api.get("storage") or []}
        missing = [sid for sid in storages if sid not in known]
        if missing:
            raise ValidationError(
                "storages: %s %s not exist (storages of the cluster: %s)"
                % (", ".join(missing), "does" if len(missing) == 1 else "do", ", ".join(sorted(known)) or "none")
            )

    def _check_templates(self, templates: list[str], pools: set[str]) -> list[str]:
        """Check `templates` (VMIDs are templates, pools exist); the pools to create (the default pool only)."""
        create: list[str] = []
        vmids = [t for t in templates if t.isdigit()]
        if vmids:
            vms = {str(r["vmid"]): r for r in self.api.resources("vm") if r.get("type") == "qemu"}
            for vmid in vmids:
                if vmid not in vms:
                    raise ValidationError("templates: there is no VM %s in the cluster" % vmid)
                if not vms[vmid].get("template"):
                    raise ValidationError(
                        "templates: VM %s (%s) is not a template; tenants may clone templates only"
                        % (vmid, vms[vmid].get("name"))
                    )
        for pool in (t for t in templates if not t.isdigit()):
            if pool in pools:
                continue
            if self.p.get("templates") is None and pool == TEMPLATES_POOL:
                create.append(pool)
                continue
            raise ValidationError(
                "templates: pool %s does not exist (pools: %s)" % (pool, ", ".join(sorted(pools)) or "none")
            )
        return create

    def _change(self, field: str, before: Any, after: Any) -> None:
        self.changed = True
        self.before[field] = before
        self.after[field] = after

    def ensure(self) -> dict[str, Any]:
        n = self._validate()
        if (self.p.get("state") or "present") == "absent":
            return self._absent(n)
        return self._present(n)

    def _result(self, n: Mapping[str, str], secret: str | None, exists: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "changed": self.changed,
            "pool": n["pool"] if exists else None,
            "group": n["group"] if exists else None,
            "user": n["user"] if exists else None,
            "token_id": n["token"] if exists and self.p.get("token", True) else None,
            "diff": {"before": self.before, "after": self.after},
        }
        if secret is not None:
            out["token_secret"] = secret
        return out

    # ---------------------------------------------------------------- present

    def _present(self, n: dict[str, str]) -> dict[str, Any]:
        p = self.p
        role, storage_role = p.get("role") or "PVEVMAdmin", p.get("storage_role") or "PVEDatastoreUser"
        storages = sorted(set(p.get("storages") or []))
        want_token = bool(p.get("token", True))
        roles = {r["roleid"] for r in self.api.get("access/roles") or []}
        templates = self._templates()
        needed = [("role", role), ("storage_role", storage_role)]
        if templates:
            needed.append(("templates", TEMPLATE_ROLE))
        for option, value in needed:
            if value not in roles:
                raise ValidationError(
                    "%s: %r is not a role of the cluster (roles: %s)" % (option, value, ", ".join(sorted(roles)))
                )
        pools = {x["poolid"] for x in self.api.get("pools") or []}
        # Everything named must exist before the first change.
        self._check_storages(storages)
        create_pools = self._check_templates(templates, pools)
        groups = {g["groupid"] for g in self.api.get("access/groups") or []}
        users = {u["userid"]: set(_split(u.get("groups"))) for u in self.api.get("access/users") or []}
        tokens: set[str] = set()
        if n["user"] in users:
            tokens = {
                "%s!%s" % (n["user"], t["tokenid"]) for t in self.api.get("access/users/%s/token" % n["user"]) or []
            }
        acl = {(e["path"], e["type"], e["ugid"], e["roleid"]) for e in self.api.get("access/acl") or []}
        comment = COMMENT % p["name"]

        if n["pool"] not in pools:
            self._change("pool", None, n["pool"])
            if not self.check:
                self.api.post("pools", poolid=n["pool"], comment=comment)
        for pool in create_pools:
            self._change("templates pool", None, pool)
            if not self.check:
                self.api.post("pools", poolid=pool, comment=TEMPLATES_COMMENT)
        if n["group"] not in groups:
            self._change("group", None, n["group"])
            if not self.check:
                self.api.post("access/groups", groupid=n["group"], comment=comment)
        for user in [n["user"]] + sorted(set(p.get("users") or []) - {n["user"]}):
            if user not in users:
                self._change("user %s" % user, None, {"groups": [n["group"]]})
                if not self.check:
                    self.api.post("access/users", userid=user, groups=n["group"], comment=comment)
            elif n["group"] not in users[user]:
                self._change(
                    "user %s" % user, {"groups": sorted(users[user])}, {"groups": sorted(users[user] | {n["group"]})}
                )
                if not self.check:
                    self.api.put("access/users/%s" % user, groups=n["group"], append=True)
        secret: str | None = None
        token_name = n["token"].split("!")[1]
        if want_token and n["token"] not in tokens:
            self._change("token", None, n["token"])
            if not self.check:
                answer = (
                    self.api.post("access/users/%s/token/%s" % (n["user"], token_name), privsep=True, comment=comment)
                    or {}
                )
                secret = answer.get("value")
                if not secret:
                    raise ProxmoxError("the API created token %s but returned no secret" % n["token"])
        elif not want_token and n["token"] in tokens:
            self._change("token", n["token"], None)
            if not self.check:
                self.api.delete("access/users/%s/token/%s" % (n["user"], token_name))
        want = wanted_acls(n, role, storages, storage_role, want_token, template_paths(templates))
        mine = {a for a in acl if a[2] in (n["group"], n["token"])}
        for path, kind, ugid, roleid in sorted(want - mine):
            self.after.setdefault("acl", []).append("%s %s %s %s" % (path, kind, ugid, roleid))
            self.changed = True
            if not self.check:
                self.api.request(
                    "put", "access/acl", {"path": path, "roles": roleid, "propagate": True, kind + "s": ugid}
                )
        for path, kind, ugid, roleid in sorted(mine - want):
            if kind == "token" and not want_token:
                continue  # deleting the token removed its entries
            self.before.setdefault("acl", []).append("%s %s %s %s" % (path, kind, ugid, roleid))
            self.changed = True
            if not self.check:
                self.api.request("put", "access/acl", {"path": path, "roles": roleid, "delete": True, kind + "s": ugid})
        return self._result(n, secret)

    # ----------------------------------------------------------------- absent

    def _absent(self, n: dict[str, str]) -> dict[str, Any]:
        pools = {x["poolid"] for x in self.api.get("pools") or []}
        groups = {g["groupid"] for g in self.api.get("access/groups") or []}
        users = {u["userid"] for u in self.api.get("access/users") or []}
        acl = [
            e
            for e in self.api.get("access/acl") or []
            if e["ugid"] in (n["group"], n["token"]) or e["path"] == "/pool/%s" % n["pool"]
        ]
        if n["pool"] in pools:
            members = (self.api.get("pools", poolid=n["pool"]) or [{}])[0].get("members") or []
            guests = [m for m in members if m.get("type") in ("qemu", "lxc")]
            if guests and not self.p.get("force"):
                raise ProxmoxError(
                    "pool %s still holds %s; remove them first or set force=true (which destroys them)"
                    % (n["pool"], ", ".join("%s %s" % (m["type"], m["vmid"]) for m in guests))
                )
            for guest in guests:
                self._change("%s %s" % (guest["type"], guest["vmid"]), guest.get("name"), None)
                if not self.check:
                    self._destroy(guest)
        for entry in acl:
            self.before.setdefault("acl", []).append(
                "%s %s %s %s" % (entry["path"], entry["type"], entry["ugid"], entry["roleid"])
            )
            self.changed = True
            if not self.check:
                self.api.request(
                    "put",
                    "access/acl",
                    {
                        "path": entry["path"],
                        "roles": entry["roleid"],
                        "delete": True,
                        entry["type"] + "s": entry["ugid"],
                    },
                )
        if n["user"] in users:
            self._change("user", n["user"], None)
            if not self.check:
                self.api.delete("access/users/%s" % n["user"])
        if n["group"] in groups:
            self._change("group", n["group"], None)
            if not self.check:
                self.api.delete("access/groups/%s" % n["group"])
        if n["pool"] in pools:
            self._change("pool", n["pool"], None)
            if not self.check:
                self.api.delete("pools", poolid=n["pool"])
        return self._result(n, None, exists=False)

    def _destroy(self, guest: Mapping[str, Any]) -> None:
        kind = guest["type"]
        base = "nodes/%s/%s/%s" % (guest["node"], kind, guest["vmid"])
        if guest.get("status") == "running":
            self._wait(self.api.post(base + "/status/stop"), "stop %s %s" % (kind, guest["vmid"]))
        self._wait(
            self.api.delete(base, purge=True, **({"destroy-unreferenced-disks": True} if kind == "qemu" else {})),
            "destroy %s %s" % (kind, guest["vmid"]),
        )

    def _wait(self, upid: Any, what: str) -> None:
        if upid:
            self.api.wait_task(upid, self.timeout, what)


def _split(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v for v in re.split(r"[,;\s]+", str(value or "")) if v]
