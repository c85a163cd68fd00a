# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tenancy layer's errors (all IroncloudError) and the input rules shared by its modules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import IroncloudError, ValidationError

# An address owner inside a project: the VM name and the NIC, e.g. web1/net0.
OWNER_RE = re.compile(r"^[a-z0-9][a-z0-9._:/-]{0,62}$")
OWNER_RULE = "1 to 63 of a-z 0-9 . _ : / - starting with a letter or digit (for example web1/net0)"
# The login user of a VM (cloud-init's ciuser, the inventory's ansible_user): a portable Linux user name, as
# useradd takes it by default (shadow's NAME_REGEX without the machine accounts' trailing $).
LOGIN_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
LOGIN_USER_RULE = "a Linux user name: 1 to 32 of a-z 0-9 _ -, starting with a letter or _ (for example debian)"
# A reservation id chosen by the caller (the vm role uses <tenant>-<project>-<vm>) or generated.
RESERVATION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

T = TypeVar("T")

QUOTA_KEYS = ("cores", "memory_mb", "disk_gb", "vms", "networks", "addresses", "storage_gb", "floating_ips")


class TenancyError(IroncloudError):
    """A tenancy operation cannot be done as asked."""


class NotFound(TenancyError):
    """The tenant, project, network, lease or reservation does not exist."""


class Conflict(TenancyError):
    """The request contradicts what the store holds (an overlap, an address in use, a non-empty tenant)."""


class QuotaExceeded(TenancyError):
    """The request would take a tenant over its quota; details name the resource."""


class NoPlacement(TenancyError):
    """No node can take the reservation."""


class StoreError(TenancyError):
    """The state store cannot be opened or used."""


def check_owner(option: str, value: Any) -> str:
    if not isinstance(value, str) or not OWNER_RE.match(value):
        raise ValidationError("%s: %r is not a valid owner: %s" % (option, value, OWNER_RULE), option=option)
    return value


def check_login_user(option: str, value: Any) -> str | None:
    """A Linux user name (LOGIN_USER_RULE), None when not given (None or empty)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not LOGIN_USER_RE.match(value):
        raise ValidationError("%s: %r is not a valid user name: %s" % (option, value, LOGIN_USER_RULE), option=option)
    return value


def check_int(
    option: str, value: Any, minimum: int = 0, maximum: int | None = None, allow_none: bool = False
) -> int | None:
    """An integer in [minimum, maximum]; booleans, floats with a fraction and text that is not a number refused."""
    if value is None:
        if allow_none:
            return None
        raise ValidationError("%s is required" % option, option=option)
    if isinstance(value, bool):
        raise ValidationError("%s: %r is not an integer" % (option, value), option=option)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValidationError("%s: %r is not an integer" % (option, value), option=option)
        value = int(value)
    if isinstance(value, str):
        if not re.match(r"^-?[0-9]+$", value.strip()):
            raise ValidationError("%s: %r is not an integer" % (option, value), option=option)
        value = int(value)
    if not isinstance(value, int):
        raise ValidationError("%s: %r is not an integer" % (option, value), option=option)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = "%d..%d" % (minimum, maximum) if maximum is not None else ">= %d" % minimum
        raise ValidationError("%s: %d is out of range (%s)" % (option, value, bounds), option=option)
    return value


def check_quota(quota: Mapping[str, Any] | None) -> dict[str, int | None]:
    """The given quota keys as non-negative integers (a key that is absent or None is not set)."""
    out: dict[str, int | None] = {}
    if quota is None:
        return out
    if not isinstance(quota, Mapping):
        raise ValidationError("quota: must be a dict of %s" % ", ".join(QUOTA_KEYS), option="quota")
    unknown = sorted(set(quota) - set(QUOTA_KEYS))
    if unknown:
        raise ValidationError(
            "quota: unknown key(s) %s; known: %s" % (", ".join(unknown), ", ".join(QUOTA_KEYS)), option="quota"
        )
    for key in QUOTA_KEYS:
        if quota.get(key) is not None:
            out[key] = check_int("quota.%s" % key, quota[key], minimum=0)
    return out


def required(value: T | None, what: str) -> T:
    """value, or TenancyError when it is None (a row that was just written and cannot be read back)."""
    if value is None:
        raise TenancyError("internal error: %s is missing" % what)
    return value
