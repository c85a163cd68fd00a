# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every Ceph module shares: the connection options, the error type, sizes and names."""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import IroncloudError, ValidationError


class CephError(IroncloudError):
    """A Ceph command failed (details: cmd, rc, stderr)."""


def ceph_argument_spec() -> dict[str, dict[str, Any]]:
    """The Ceph connection options (doc fragment ironcloud.stack.ceph), shared by every Ceph module."""
    return {
        "cluster": {"type": "str", "default": "ceph"},
        "conf": {"type": "path"},
        "user": {"type": "str", "default": "client.admin"},
        "keyring": {"type": "path", "no_log": False},
        "timeout": {"type": "int", "default": 30},
    }


_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1000**4,
    "tib": 1024**4,
    "p": 1024**5,
    "pb": 1000**5,
    "pib": 1024**5,
}
_SIZE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: Any, option: str, allow_zero: bool = True) -> int | None:
    """A size in bytes from an int or a string such as 10G, 512MiB, 1.5T (K/M/G/T/P and *iB are powers of 1024,
    kB/MB/GB/TB/PB powers of 1000). None stays None. Raises ValidationError naming option."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError(f"{option}: expected a size such as 10G or a number of bytes, got {value!r}")
    if isinstance(value, int):
        number, unit = float(value), ""
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ValidationError(f"{option}: expected a size such as 10G or a number of bytes, got {value!r}")
        number, unit = float(match.group(1)), match.group(2).lower()
        if unit not in _UNITS:
            raise ValidationError(
                f"{option}: unknown unit {match.group(2)!r} in {value!r} (use B, K, M, G, T, P, KiB..PiB or kB..PB)"
            )
    size = number * _UNITS[unit]
    if size < 0:
        raise ValidationError(f"{option}: must not be negative, got {value!r}")
    if size != int(size):
        raise ValidationError(f"{option}: {value!r} is not a whole number of bytes")
    if not allow_zero and size == 0:
        raise ValidationError(f"{option}: must be greater than 0, got {value!r}")
    return int(size)


def parse_count(value: int | None, option: str) -> int | None:
    """A non-negative count (quota_max_objects); None stays None."""
    if value is None:
        return None
    if value < 0:
        raise ValidationError(f"{option}: must not be negative (0 means no quota), got {value}")
    return value


# Ceph allows more, but these are the names the tools handle without quoting trouble.
_POOL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


def check_pool_name(name: str, option: str = "name") -> str:
    if not name or not _POOL_NAME.match(name):
        raise ValidationError(
            f"{option}: {name!r} is not a valid pool name (letters, digits, '_', '-', '.'; at most 128; "
            "not starting with '.' or '-')"
        )
    return name
