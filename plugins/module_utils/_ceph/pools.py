# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ceph_pool and ceph_pool_info: pool settings, desired vs current, and the mon commands that converge them.

The pure part (normalise a pool from `osd dump`, validate the wanted settings, plan the commands) is
unit-tested without Ceph; CephPools runs the plan over one CephClient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.client import librbd
from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.common import (
    CephError,
    check_pool_name,
    parse_count,
    parse_size,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff, whole
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError

POOL_TYPES = {1: "replicated", 3: "erasure"}
AUTOSCALE_MODES = ("on", "off", "warn")
# The order settings are compared and applied in: the autoscale mode before pg_num (so turning it
# off first keeps the autoscaler from undoing pg_num), size before min_size (setting size resets
# min_size to its default for that size, so min_size is set after it).
SETTINGS = (
    "pg_autoscale_mode",
    "pg_num",
    "crush_rule",
    "size",
    "min_size",
    "application",
    "quota_max_bytes",
    "quota_max_objects",
)
MAX_SIZE = 10

Command = tuple[str, dict[str, Any]]


# ---------------------------------------------------------------- pure: reading and validating


def pool_from_dump(entry: Mapping[str, Any], rules: Mapping[int, str]) -> dict[str, Any]:
    """One pool of `osd dump` in the normalised form the module compares and returns.

    pg_num is the target (pg_num_target): after `osd pool set pg_num 16` Ceph ramps pg_num towards it,
    so the current pg_num would make every rerun report a change.
    """
    apps = sorted((entry.get("application_metadata") or {}).keys())
    pg_num = entry.get("pg_num_target", entry.get("pg_num"))
    return {
        "name": entry["pool_name"],
        "id": entry["pool"],
        "type": POOL_TYPES.get(entry.get("type", 1), str(entry.get("type"))),
        "erasure_profile": entry.get("erasure_code_profile") or None,
        "size": entry.get("size"),
        "min_size": entry.get("min_size"),
        "pg_num": pg_num,
        "pg_num_actual": entry.get("pg_num"),
        "pg_autoscale_mode": entry.get("pg_autoscale_mode"),
        "crush_rule": rules.get(int(entry.get("crush_rule", -1)), str(entry.get("crush_rule"))),
        "application": ",".join(apps) if apps else None,
        "applications": apps,
        "quota_max_bytes": entry.get("quota_max_bytes", 0),
        "quota_max_objects": entry.get("quota_max_objects", 0),
        "flags": [f for f in str(entry.get("flags_names", "")).split(",") if f],
    }


def desired_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The settings the user asked for, normalised and validated on their own (None: not managed)."""
    pg_num = params.get("pg_num")
    if pg_num is not None and pg_num < 1:
        raise ValidationError(f"pg_num: must be at least 1, got {pg_num}")
    for option in ("size", "min_size"):
        value = params.get(option)
        if value is not None and not 1 <= value <= MAX_SIZE:
            raise ValidationError(f"{option}: must be between 1 and {MAX_SIZE}, got {value}")
    mode = params.get("pg_autoscale_mode")
    if mode is not None and mode not in AUTOSCALE_MODES:
        raise ValidationError("pg_autoscale_mode: must be one of {}, got {!r}".format(", ".join(AUTOSCALE_MODES), mode))
    application = params.get("application")
    if application is not None:
        application = str(application).strip()
        if not application or "," in application or " " in application:
            raise ValidationError(
                "application: expected one application name such as rbd, rgw or cephfs, got {!r}".format(
                    params.get("application")
                )
            )
    return {
        "pg_autoscale_mode": mode,
        "pg_num": pg_num,
        "crush_rule": params.get("crush_rule"),
        "size": params.get("size"),
        "min_size": params.get("min_size"),
        "application": application,
        "quota_max_bytes": parse_size(params.get("quota_max_bytes"), "quota_max_bytes"),
        "quota_max_objects": parse_count(params.get("quota_max_objects"), "quota_max_objects"),
    }


def validate(
    want: Mapping[str, Any], have: Mapping[str, Any] | None, pool_type: str, osd_count: int, rules: Mapping[int, str]
) -> None:
    """Rules that need the cluster's facts (OSD count, crush rules) or the current pool; raise before any change."""
    if have is not None and have["type"] != pool_type:
        raise ValidationError(
            "pool_type: pool {} is {}; a pool's type cannot change (got pool_type={})".format(
                have["name"], have["type"], pool_type
            )
        )
    size = want.get("size")
    if pool_type == "erasure" and size is not None and (have is None or size != have["size"]):
        raise ValidationError(
            "size: the size of an erasure-coded pool is k+m of its erasure_profile; "
            "leave size unset for pool_type=erasure"
        )
    if pool_type == "replicated" and size is not None and size > osd_count:
        raise ValidationError(
            f"size: {size} replicas need {size} OSDs, but the cluster has {osd_count} OSD(s) up and in"
        )
    effective_size = size if size is not None else (have["size"] if have else None)
    min_size = want.get("min_size")
    if min_size is not None and effective_size is not None and min_size > effective_size:
        raise ValidationError(f"min_size: {min_size} is more than size {effective_size}")
    rule = want.get("crush_rule")
    if rule is not None and rule not in rules.values():
        raise ValidationError(
            "crush_rule: no crush rule {!r} (the cluster has: {})".format(rule, ", ".join(sorted(rules.values())))
        )


def autoscaled(want: Mapping[str, Any], have: Mapping[str, Any] | None) -> bool:
    """True when the autoscaler owns pg_num (mode on, wanted or kept): pg_num is then only used at creation."""
    mode = want.get("pg_autoscale_mode") or (have or {}).get("pg_autoscale_mode")
    return mode == "on"


def compare(have: Mapping[str, Any], want: Mapping[str, Any], diff: Diff) -> list[str]:
    """The settings that differ (in SETTINGS order), recorded in diff. None in want means not managed."""
    changed = []
    for field in SETTINGS:
        value = want.get(field)
        if value is None:
            continue
        if field == "pg_num" and autoscaled(want, have):
            continue
        if diff.compare(field, have.get(field), value):
            changed.append(field)
    return changed


def plan_update(name: str, have: Mapping[str, Any], want: Mapping[str, Any], fields: list[str]) -> list[Command]:
    """The mon commands that take pool name from have to want for the changed fields (in that order)."""
    commands: list[Command] = []
    fields = list(fields)
    # Setting size resets min_size to the default for that size: set min_size after it, even if it was equal.
    if "size" in fields and want.get("min_size") is not None and "min_size" not in fields:
        fields.append("min_size")
        fields.sort(key=SETTINGS.index)
    for field in fields:
        value = want[field]
        if field == "size":
            commands.append(
                ("osd pool set", {"pool": name, "var": "size", "val": str(value), "yes_i_really_mean_it": True})
            )
        elif field in ("min_size", "pg_num", "pg_autoscale_mode", "crush_rule"):
            commands.append(("osd pool set", {"pool": name, "var": field, "val": str(value)}))
        elif field == "application":
            current = list(have.get("applications") or [])
            for app in current:
                if app != value:
                    commands.append(
                        ("osd pool application disable", {"pool": name, "app": app, "yes_i_really_mean_it": True})
                    )
            if value not in current:
                commands.append(
                    ("osd pool application enable", {"pool": name, "app": value, "yes_i_really_mean_it": True})
                )
        elif field in ("quota_max_bytes", "quota_max_objects"):
            commands.append(("osd pool set-quota", {"pool": name, "field": field[len("quota_") :], "val": str(value)}))
    return commands


def plan_create(name: str, want: Mapping[str, Any], pool_type: str, erasure_profile: str | None) -> Command:
    args: dict[str, Any] = {"pool": name, "pool_type": pool_type}
    if want.get("pg_num") is not None:
        args["pg_num"] = want["pg_num"]
    if pool_type == "erasure":
        args["erasure_code_profile"] = erasure_profile or "default"
    if want.get("crush_rule") is not None:
        args["rule"] = want["crush_rule"]
    if want.get("pg_autoscale_mode") is not None:
        args["autoscale_mode"] = want["pg_autoscale_mode"]
    return ("osd pool create", args)


def predicted(name: str, want: Mapping[str, Any], pool_type: str, erasure_profile: str | None) -> dict[str, Any]:
    """What check mode reports for a pool it would create: the wanted settings (unset ones unknown)."""
    out: dict[str, Any] = {"name": name, "type": pool_type}
    if pool_type == "erasure":
        out["erasure_profile"] = erasure_profile or "default"
    out.update((k, v) for k, v in want.items() if v is not None)
    return out


def comparable(pool: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a pool shown in a diff (no ids or derived fields)."""
    keys = ("name", "type", "erasure_profile") + SETTINGS
    return {k: pool.get(k) for k in keys if k in pool}


# ---------------------------------------------------------------- with a cluster


def osds_up_in(dump: Mapping[str, Any]) -> int:
    return sum(1 for o in dump.get("osds", []) if o.get("up") and o.get("in"))


def usage_of(stats: Mapping[str, Any] | None, pool: Mapping[str, Any]) -> dict[str, Any]:
    """Usage in a stable shape, with the share of each quota used (None when there is no quota)."""
    stats = stats or {}
    stored = int(stats.get("stored", 0) or 0)
    objects = int(stats.get("objects", 0) or 0)
    max_bytes = pool.get("quota_max_bytes") or 0
    max_objects = pool.get("quota_max_objects") or 0
    return {
        "stored_bytes": stored,
        "objects": objects,
        "used_bytes": int(stats.get("bytes_used", 0) or 0),
        "percent_used": float(stats.get("percent_used", 0) or 0) * 100,
        "max_avail_bytes": int(stats.get("max_avail", 0) or 0),
        "quota_bytes_used_percent": round(100.0 * stored / max_bytes, 2) if max_bytes else None,
        "quota_objects_used_percent": round(100.0 * objects / max_objects, 2) if max_objects else None,
        "stats_available": bool(stats),
    }


class CephPools:
    """Pools over one CephClient."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._rules: dict[int, str] | None = None

    @property
    def rules(self) -> dict[int, str]:
        if self._rules is None:
            self._rules = self.client.crush_rules()
        return self._rules

    def pools(self) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        dump = self.client.osd_dump()
        return {p["pool_name"]: pool_from_dump(p, self.rules) for p in dump.get("pools", [])}, dump

    def get(self, name: str) -> dict[str, Any] | None:
        return self.pools()[0].get(name)

    # ------------------------------------------------------------ info

    def info(self, names: list[str] | None) -> dict[str, Any]:
        pools, _dump = self.pools()
        if names:
            missing = [n for n in names if n not in pools]
            if missing:
                raise ValidationError(
                    "name: no such pool: {} (the cluster has: {})".format(
                        ", ".join(missing), ", ".join(sorted(pools)) or "no pools"
                    ),
                    missing=missing,
                )
        usage = self.client.df()
        out = []
        for name in names or sorted(pools):
            pool = dict(pools[name])
            pool["usage"] = usage_of(usage.get(name), pool)
            out.append(pool)
        return {"changed": False, "pools": out}

    # ------------------------------------------------------------ ensure

    def ensure(self, params: Mapping[str, Any], check_mode: bool) -> dict[str, Any]:
        name = check_pool_name(params["name"])
        state = params.get("state") or "present"
        if state == "absent":
            return self._absent(name, params, check_mode)
        want = desired_settings(params)
        pool_type = params.get("pool_type") or "replicated"
        profile = params.get("erasure_profile")
        if profile and pool_type != "erasure":
            raise ValidationError("erasure_profile: only for pool_type=erasure")
        pools, dump = self.pools()
        have = pools.get(name)
        validate(want, have, pool_type, osds_up_in(dump), self.rules)
        if have is None:
            return self._create(name, want, pool_type, profile, check_mode)
        if profile and have.get("erasure_profile") != profile:
            raise ValidationError(
                "erasure_profile: pool {} uses profile {}; a pool's profile cannot change".format(
                    name, have.get("erasure_profile")
                )
            )
        return self._update(name, have, want, check_mode)

    def _run(self, commands: list[Command]) -> None:
        for prefix, args in commands:
            self.client.mon(prefix, **args)

    def _rbd_init(self, name: str) -> None:
        rbd = librbd()

        ioctx = self.client.open_ioctx(name)
        try:
            rbd.RBD().pool_init(ioctx, False)
        finally:
            ioctx.close()

    def _create(
        self, name: str, want: dict[str, Any], pool_type: str, profile: str | None, check_mode: bool
    ) -> dict[str, Any]:
        after = predicted(name, want, pool_type, profile)
        result: dict[str, Any] = {"changed": True, "pool": after}
        result["diff"] = whole(None, comparable(after))
        if check_mode:
            result["msg"] = f"pool {name} would be created"
            return result
        self._run([plan_create(name, want, pool_type, profile)])
        self.client.wait_for_latest_osdmap()
        have = self.get(name)
        if have is None:
            raise CephError(f"pool {name} was created but is not in the osdmap", pool=name)
        # What `osd pool create` did not set already (size, min_size, application, quota), in one pass.
        fields = compare(have, want, Diff())
        self._run(plan_update(name, have, want, fields))
        if want.get("application") == "rbd" and pool_type == "replicated":
            self._rbd_init(name)
        pool = self.get(name) or after
        result["pool"] = pool
        result["diff"] = whole(None, comparable(pool))
        result["msg"] = f"pool {name} created"
        return result

    def _update(self, name: str, have: dict[str, Any], want: dict[str, Any], check_mode: bool) -> dict[str, Any]:
        diff = Diff()
        fields = compare(have, want, diff)
        result: dict[str, Any] = {"changed": bool(fields), "pool": have}
        result["diff"] = diff.as_dict()
        if not fields:
            result["msg"] = f"pool {name} is up to date"
            return result
        if check_mode:
            pool = dict(have)
            pool.update((f, want[f]) for f in fields)
            result["pool"] = pool
            result["msg"] = "pool {} would be updated: {}".format(name, ", ".join(fields))
            return result
        self._run(plan_update(name, have, want, fields))
        if "application" in fields and want["application"] == "rbd" and have["type"] == "replicated":
            self._rbd_init(name)
        result["pool"] = self.get(name) or have
        result["msg"] = "pool {} updated: {}".format(name, ", ".join(fields))
        return result

    def _absent(self, name: str, params: Mapping[str, Any], check_mode: bool) -> dict[str, Any]:
        if not params.get("confirm_delete"):
            raise ValidationError(
                f"confirm_delete: deleting pool {name} destroys all its data; set confirm_delete=true "
                "together with state=absent"
            )
        have = self.get(name)
        result: dict[str, Any] = {"changed": have is not None, "pool": {}}
        result["diff"] = whole(comparable(have) if have else {}, None)
        if have is None:
            result["msg"] = f"pool {name} is absent"
            return result
        if check_mode:
            result["msg"] = f"pool {name} would be deleted"
            return result
        self.client.mon("osd pool delete", pool=name, pool2=name, yes_i_really_really_mean_it=True)
        self.client.wait_for_latest_osdmap()
        result["msg"] = f"pool {name} deleted"
        return result
