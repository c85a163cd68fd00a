# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before/after bookkeeping for check mode and --diff."""

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

    def compare_all(self, have: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
        """compare() every field of want (a field missing from have is None there); True if any differ."""
        changed = False
        for field, value in want.items():
            changed = self.compare(field, have.get(field), value) or changed
        return changed

    @property
    def changed(self) -> bool:
        return bool(self.before or self.after)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {"before": dict(self.before), "after": dict(self.after)}
