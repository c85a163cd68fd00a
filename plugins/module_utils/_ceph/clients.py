# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ceph_client: a cephx key with caps; created, its caps converged, or removed."""

from __future__ import annotations

import errno
from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.caps import (
    caps_argument,
    check_entity,
    current_caps,
    normalise_caps,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff, whole


class CephClients:
    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, name: str) -> dict[str, Any] | None:
        out = self.client.mon("auth get", ok=(-errno.ENOENT,), entity=name)
        if isinstance(out, dict) and out.get("rc") == -errno.ENOENT:
            return None
        return out[0] if out else None

    def ensure(self, params: Mapping[str, Any], check_mode: bool) -> dict[str, Any]:
        """Returns the result; the key (a secret) is in result["key"] only when created or return_key is set."""
        name = check_entity(params["name"])
        state = params.get("state") or "present"
        want = normalise_caps(params.get("caps")) if state == "present" else {}
        current = self.get(name)
        have = current_caps(current["caps"]) if current else None
        result: dict[str, Any] = {"changed": False}
        if state == "absent":
            result["changed"] = current is not None
            result["diff"] = whole({"name": name, "caps": have} if current else {}, None)
            result["client"] = {}
            if current is None:
                result["msg"] = f"{name} is absent"
            elif check_mode:
                result["msg"] = f"{name} would be removed"
            else:
                self.client.mon("auth del", entity=name)
                result["msg"] = f"{name} removed"
            return result
        if current is None:
            result["changed"] = True
            result["client"] = {"name": name, "caps": want}
            result["diff"] = whole(None, {"name": name, "caps": want})
            if check_mode:
                result["msg"] = f"{name} would be created"
                return result
            out = self.client.mon("auth get-or-create", entity=name, caps=caps_argument(want))
            result["key"] = out[0]["key"]
            result["msg"] = f"{name} created"
            return result
        diff = Diff()
        changed = diff.compare("caps", have, want)
        result["changed"] = changed
        result["client"] = {"name": name, "caps": want if changed else have}
        result["diff"] = {
            "before": {"name": name, "caps": have} if changed else {},
            "after": {"name": name, "caps": want} if changed else {},
        }
        if params.get("return_key"):
            result["key"] = current["key"]
        if not changed:
            result["msg"] = f"{name} is up to date"
        elif check_mode:
            result["msg"] = f"{name}: caps would be updated"
        else:
            self.client.mon("auth caps", entity=name, caps=caps_argument(want))
            result["msg"] = f"{name}: caps updated"
        return result
