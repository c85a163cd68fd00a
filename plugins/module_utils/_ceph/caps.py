# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ceph_client: caps in one normalised form, and the client key's desired vs current state."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError

DAEMON_TYPES = ("mon", "osd", "mgr", "mds")
_ENTITY = re.compile(r"^(client|mgr|osd|mds|mon)\.[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
# One grant: "allow <spec>" or "profile <name> [args]"; Ceph parses the rest (pool=, namespace=, ...).
_GRANT = re.compile(r"^(allow(\s+\S.*)?|profile\s+[A-Za-z0-9_\-]+(\s+\S.*)?)$")


def check_entity(name: str) -> str:
    if not name or not _ENTITY.match(name):
        raise ValidationError(f"name: expected an entity such as client.acme (type.id), got {name!r}")
    return name


def normalise_grant(grant: str) -> str:
    """One grant with single spaces and no spaces around '=' ("allow  rwx pool = x" -> "allow rwx pool=x")."""
    text = re.sub(r"\s*=\s*", "=", grant.strip())
    return re.sub(r"\s+", " ", text)


def normalise_cap(daemon: str, cap: Any) -> str:
    """A cap string in the form Ceph stores and we compare: grants separated by ', '."""
    if not isinstance(cap, str) or not cap.strip():
        raise ValidationError(f"caps.{daemon}: expected a non-empty string such as 'profile rbd', got {cap!r}")
    grants = [normalise_grant(g) for g in cap.split(",")]
    for grant in grants:
        if not _GRANT.match(grant):
            raise ValidationError(
                f"caps.{daemon}: {grant!r} is not a grant; each comma-separated part starts with 'allow' or "
                "'profile <name>' (e.g. 'profile rbd pool=vms', 'allow r')"
            )
    return ", ".join(grants)


def normalise_caps(caps: Mapping[str, Any] | None) -> dict[str, str]:
    """The caps dict ({mon, osd, mgr, mds} -> cap), validated and normalised; unknown daemon types refused."""
    if caps is None:
        return {}
    if not isinstance(caps, Mapping):
        raise ValidationError("caps: expected a dict such as {mon: 'profile rbd', osd: 'profile rbd pool=x'}")
    out: dict[str, str] = {}
    for daemon, cap in caps.items():
        if daemon not in DAEMON_TYPES:
            raise ValidationError("caps: unknown daemon type {!r} (use {})".format(daemon, ", ".join(DAEMON_TYPES)))
        if cap is None:
            continue
        out[daemon] = normalise_cap(daemon, cap)
    return dict(sorted(out.items()))


def current_caps(caps: Mapping[str, str] | None) -> dict[str, str]:
    """Caps as `auth get` returns them, in the same normalised form (no validation: Ceph accepted them)."""
    return dict(sorted((d, ", ".join(normalise_grant(g) for g in c.split(","))) for d, c in (caps or {}).items()))


def caps_argument(caps: Mapping[str, str]) -> list[str]:
    """The `caps` argument of auth get-or-create / auth caps: [daemon, cap, daemon, cap, ...]."""
    out: list[str] = []
    for daemon, cap in sorted(caps.items()):
        out += [daemon, cap]
    return out
