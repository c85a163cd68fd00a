# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception family of the collection.

Every layer raises a subclass of IroncloudError; a module catches only IroncloudError and turns it
into fail_json(msg=..., **details). Orchestration code never catches Exception.
"""

from __future__ import annotations

from typing import Any


class IroncloudError(Exception):
    """An error a user can act on: a message that names the field or the resource, plus details."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class ValidationError(IroncloudError):
    """Bad input, found before anything changed."""
