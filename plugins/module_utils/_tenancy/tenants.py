# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud_tenant: a tenant, its quota and its projects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._naming import check_name
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import ledger
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import usage as acct
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import (
    QUOTA_KEYS,
    Conflict,
    check_quota,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, Tx


def describe(tx: Tx, row: Mapping[str, Any], now: float) -> dict[str, Any]:
    out: dict[str, Any] = {"name": row["name"]}
    out.update(acct.usage(tx, row, now))
    out["usage"] = out["used"]
    out["projects"] = [
        r["name"] for r in tx.all("SELECT name FROM projects WHERE tenant = ? ORDER BY name", (row["name"],))
    ]
    return out


def owned(tx: Tx, tenant: str, now: float, project: str | None = None) -> list[str]:
    """What the tenant (or project) still owns, as phrases; empty when it owns nothing."""
    scope = "tenant = ?" + (" AND project = ?" if project else "")
    params: list[Any] = [tenant] + ([project] if project else [])
    out = []
    n = int(tx.value("SELECT COUNT(*) FROM networks WHERE " + scope, params) or 0)
    if n:
        out.append("%d network(s)" % n)
    n = int(tx.value("SELECT COUNT(*) FROM leases WHERE " + scope, params) or 0)
    if n:
        out.append("%d address lease(s)" % n)
    n = int(tx.value("SELECT COUNT(*) FROM routers WHERE " + scope, params) or 0)
    if n:
        out.append("%d router(s)" % n)
    n = int(tx.value("SELECT COUNT(*) FROM floating_ips WHERE " + scope, params) or 0)
    if n:
        out.append("%d floating IP(s)" % n)
    n = int(tx.value("SELECT COUNT(*) FROM reservations WHERE " + scope + " AND state = 'committed'", params) or 0)
    if n:
        out.append("%d VM(s)" % n)
    n = int(
        tx.value(
            "SELECT COUNT(*) FROM reservations WHERE " + scope + " AND state = 'reserved' AND expires > ?",
            params + [now],
        )
        or 0
    )
    if n:
        out.append("%d reservation(s) in flight" % n)
    return out


def ensure_tenant(store: Store, params: Mapping[str, Any], check_mode: bool, now: float) -> dict[str, Any]:
    name = check_name("name", params.get("name"))
    state = params.get("state") or "present"
    quota = check_quota(params.get("quota"))
    projects = params.get("projects")
    if projects is not None:
        if not isinstance(projects, list):
            raise ValidationError("projects: must be a list of names", option="projects")
        projects = sorted({check_name("projects[]", p) for p in projects})

    def work(tx: Tx) -> dict[str, Any]:
        tx.lock("tenants")
        row = tx.one_for_update("SELECT * FROM tenants WHERE name = ?", (name,))
        diff = Diff()
        if state == "absent":
            if row is None:
                return {"changed": False, "tenant": None, "diff": diff.as_dict()}
            left = owned(tx, name, now)
            if left:
                raise Conflict("tenant %s still owns %s: remove them first" % (name, ", ".join(left)), tenant=name)
            before = describe(tx, row, now)
            tx.execute("DELETE FROM reservations WHERE tenant = ?", (name,))
            tx.execute("DELETE FROM projects WHERE tenant = ?", (name,))
            tx.execute("DELETE FROM tenants WHERE name = ?", (name,))
            ledger.record(tx, "tenant", "removed", name, name, now, source="cloud_tenant")
            diff.compare("tenant", {"name": name, "quota": before["quota"], "projects": before["projects"]}, None)
            return {
                "changed": True,
                "tenant": None,
                "diff": diff.as_dict(),
                "msg": "tenant %s %s" % (name, "would be removed" if check_mode else "removed"),
            }
        created = row is None
        if row is None:
            values = [quota.get(k) for k in QUOTA_KEYS]
            tx.execute(
                "INSERT INTO tenants (name, %s, created) VALUES (?, %s, ?)"
                % (", ".join("q_" + k for k in QUOTA_KEYS), ", ".join("?" * len(QUOTA_KEYS))),
                [name] + values + [now],
            )
            diff.compare("name", None, name)
            row = acct.tenant_row(tx, name)
            ledger.record(tx, "tenant", "created", name, name, now, source="cloud_tenant")
            if quota.get("storage_gb"):
                ledger.record(
                    tx, "storage_quota", "set", name, name, now, source="cloud_tenant", disk_gb=quota["storage_gb"]
                )
        have_quota = acct.quota_of(row)
        for key, value in sorted(quota.items()):
            if created:
                diff.compare("quota.%s" % key, None, value)
            elif diff.compare("quota.%s" % key, have_quota[key], value):
                tx.execute("UPDATE tenants SET q_%s = ? WHERE name = ?" % key, (value, name))
                if key == "storage_gb":
                    ledger.record(
                        tx, "storage_quota", "set", name, name, now, source="cloud_tenant", disk_gb=value or 0
                    )
        if projects is not None:
            have = [r["name"] for r in tx.all("SELECT name FROM projects WHERE tenant = ? ORDER BY name", (name,))]
            for project in projects:
                if project not in have:
                    tx.execute("INSERT INTO projects (tenant, name, created) VALUES (?, ?, ?)", (name, project, now))
            for project in have:
                if project not in projects:
                    left = owned(tx, name, now, project)
                    if left:
                        raise Conflict(
                            "projects: project %s of tenant %s still owns %s: remove them before "
                            "dropping it from projects" % (project, name, ", ".join(left)),
                            option="projects",
                        )
                    tx.execute("DELETE FROM reservations WHERE tenant = ? AND project = ?", (name, project))
                    tx.execute("DELETE FROM projects WHERE tenant = ? AND name = ?", (name, project))
            diff.compare("projects", None if created else have, projects)
        row = acct.tenant_row(tx, name)
        verb = "created" if created else "updated"
        msg = (
            "tenant %s %s" % (name, ("would be " + verb) if check_mode else verb)
            if diff.changed
            else "tenant %s unchanged" % name
        )
        return {"changed": diff.changed, "tenant": describe(tx, row, now), "diff": diff.as_dict(), "msg": msg}

    return store.run(work, write=True, dry_run=check_mode)
