# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one diff helper of every layer: before/after as Ansible's --diff shows them.

The logic always returns ``diff``; run_module (_module.py) passes it on only when Ansible runs with --diff.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Diff:
    """Collects the fields that differ between what is and what is wanted, as {"before", "after"}."""

    def __init__(self) -> None:
        self.before: dict[str, Any] = {}
        self.after: dict[str, Any] = {}

    def compare(self, field: str, have: Any, want: Any) -> bool:
        """Record field if have != want; True when it differs."""
        if have == want:
            return False
        self.before[field] = have
        self.after[field] = want
        return True

    @property
    def changed(self) -> bool:
        return bool(self.before or self.after)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {"before": dict(self.before), "after": dict(self.after)}


def whole(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The diff of a resource shown whole: created (before None), removed (after None) or unchanged."""
    return {"before": dict(before or {}), "after": dict(after or {})}
