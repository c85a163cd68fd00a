# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""proxmox_storage: an RBD storage entry of the Proxmox VE cluster (storage.cfg), desired vs current.

Reads GET /storage (one request); creates with POST /storage, updates with PUT /storage/{storage} (with
the digest of what was read, so a concurrent change is refused rather than overwritten), removes with
DELETE /storage/{storage}. PVE never returns the keyring, so it is sent when the entry is created and
afterwards only with update_keyring.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff, whole
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxClient

STORAGE_ID = re.compile(r"^[a-z][a-z0-9\-_.]*[a-z0-9]$", re.I)
PORTAL = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]+)(:\d+)?$")
RBD_CONTENT = ("images", "rootdir")
# Options compared, in the order shown in the diff; the keyring is never returned by PVE.
FIELDS = ("pool", "monhost", "username", "namespace", "content", "krbd", "nodes", "disable")


def split_list(value: Any) -> list[str]:
    """PVE's list syntax: commas, semicolons and white space separate items."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v for v in re.split(r"[\s,;\0]+", str(value)) if v]


def username_of(user: str | None) -> str | None:
    """PVE's username is the cephx id without its type: client.acme -> acme."""
    if user is None:
        return None
    return user[len("client.") :] if user.startswith("client.") else user


def keyring_text(keyring: str | None, username: str | None) -> str | None:
    """The keyring PVE stores: a whole keyring file's text as given, or a bare key wrapped into one."""
    if keyring is None:
        return None
    text = keyring.strip()
    if text.startswith("["):
        return text + "\n"
    return "[client.%s]\n\tkey = %s\n" % (username or "admin", text)


def desired(params: Mapping[str, Any]) -> dict[str, Any]:
    """The wanted options, normalised as current() normalises what PVE returns (None: not managed)."""
    monitors = params.get("monitors")
    if monitors is not None:
        for portal in monitors:
            if not PORTAL.match(str(portal)):
                raise ValidationError("monitors: %r is not a monitor address (host or IP, optional :port)" % portal)
    content = params.get("content")
    if content is not None:
        bad = [c for c in content if c not in RBD_CONTENT]
        if bad or not content:
            raise ValidationError("content: an RBD storage holds %s, got %s" % (" and/or ".join(RBD_CONTENT), content))
    return {
        "pool": params.get("pool"),
        "monhost": sorted(split_list(monitors)) if monitors is not None else None,
        "username": username_of(params.get("user")),
        "namespace": params.get("namespace"),
        "content": sorted(set(content)) if content is not None else None,
        "krbd": params.get("krbd"),
        "nodes": sorted(set(params["nodes"])) if params.get("nodes") is not None else None,
        "disable": params.get("disable"),
    }


def current(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A GET /storage entry in the compared form."""
    return {
        "type": entry.get("type"),
        "pool": entry.get("pool", "rbd"),
        "monhost": sorted(split_list(entry.get("monhost"))),
        "username": entry.get("username", "admin"),
        "namespace": entry.get("namespace"),
        "content": sorted(split_list(entry.get("content"))),
        "krbd": bool(int(entry.get("krbd", 0) or 0)),
        "nodes": sorted(split_list(entry.get("nodes"))),
        "disable": bool(int(entry.get("disable", 0) or 0)),
    }


def api_value(field: str, value: Any) -> Any:
    if field in ("monhost", "nodes"):
        return " ".join(value) if field == "monhost" else ",".join(value)
    if field == "content":
        return ",".join(value)
    return value


def shown(state: Mapping[str, Any], name: str) -> dict[str, Any]:
    out = {"storage": name, "type": state.get("type", "rbd")}
    out.update((k, v) for k, v in state.items() if k in FIELDS and v is not None)
    return out


class StorageManager:
    def __init__(self, api: ProxmoxClient) -> None:
        self.api = api

    def read(self, name: str) -> dict[str, Any] | None:
        for entry in self.api.get("storage") or []:
            if entry.get("storage") == name:
                return entry
        return None

    def ensure(self, params: Mapping[str, Any], check_mode: bool) -> dict[str, Any]:
        name = params["name"]
        if not STORAGE_ID.match(name or ""):
            raise ValidationError("name: %r is not a storage id (letters, digits, '-', '_', '.')" % name)
        state = params.get("state") or "present"
        entry = self.read(name)
        if state == "absent":
            return self._absent(name, entry, check_mode)
        want = desired(params)
        if entry is None:
            for required in ("pool", "monitors"):
                if params.get(required) is None:
                    raise ValidationError("%s: required to create RBD storage %s" % (required, name))
            return self._create(name, want, params, check_mode)
        if entry.get("type") != "rbd":
            raise ValidationError("name: storage %s exists with type %s, not rbd" % (name, entry.get("type")))
        return self._update(name, entry, want, params, check_mode)

    def _create(self, name: str, want: dict[str, Any], params: Mapping[str, Any], check_mode: bool) -> dict[str, Any]:
        if want["content"] is None:
            want["content"] = ["images"]
        after = shown(dict(want, type="rbd"), name)
        result: dict[str, Any] = {"changed": True, "storage": after}
        result["diff"] = whole(None, after)
        if check_mode:
            result["msg"] = "storage %s would be created" % name
            return result
        body = {k: api_value(k, v) for k, v in want.items() if v is not None}
        keyring = keyring_text(params.get("keyring"), want["username"])
        if keyring is not None:
            body["keyring"] = keyring
        self.api.post("storage", storage=name, type="rbd", **body)
        entry = self.read(name)
        result["storage"] = shown(current(entry), name) if entry else after
        result["msg"] = "storage %s created" % name
        return result

    def _update(
        self,
        name: str,
        entry: Mapping[str, Any],
        want: dict[str, Any],
        params: Mapping[str, Any],
        check_mode: bool,
    ) -> dict[str, Any]:
        have = current(entry)
        diff = Diff()
        fields = [f for f in FIELDS if want[f] is not None and diff.compare(f, have[f], want[f])]
        keyring = keyring_text(params.get("keyring"), want["username"] or have["username"])
        send_keyring = bool(params.get("update_keyring")) and keyring is not None
        if send_keyring:
            diff.compare("keyring", "(not shown by PVE)", "(replaced)")
        result: dict[str, Any] = {"changed": diff.changed, "storage": shown(have, name)}
        result["diff"] = diff.as_dict()
        if not diff.changed:
            result["msg"] = "storage %s is up to date" % name
            return result
        what = ", ".join(fields + (["keyring"] if send_keyring else []))
        if check_mode:
            result["storage"] = shown(dict(have, **{f: want[f] for f in fields}), name)
            result["msg"] = "storage %s would be updated: %s" % (name, what)
            return result
        body: dict[str, Any] = {f: api_value(f, want[f]) for f in fields}
        if send_keyring:
            body["keyring"] = keyring
        if entry.get("digest"):
            body["digest"] = entry["digest"]
        self.api.put("storage/%s" % name, **body)
        fresh = self.read(name)
        result["storage"] = shown(current(fresh), name) if fresh else result["storage"]
        result["msg"] = "storage %s updated: %s" % (name, what)
        return result

    def _absent(self, name: str, entry: Mapping[str, Any] | None, check_mode: bool) -> dict[str, Any]:
        result: dict[str, Any] = {"changed": entry is not None, "storage": {}}
        result["diff"] = whole(shown(current(entry), name) if entry else {}, None)
        if entry is None:
            result["msg"] = "storage %s is absent" % name
        elif check_mode:
            result["msg"] = "storage %s would be removed" % name
        else:
            self.api.delete("storage/%s" % name)
            result["msg"] = "storage %s removed" % name
        return result
