# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # What every module of the collection states about check mode, diff and idempotency.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
"""

    # An _info module: it changes nothing, so check mode is full and diff does not apply.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: This module changes nothing, so it runs the same in check mode.
  diff_mode:
    support: N/A
    details: This module changes nothing, so it has no diff.
  idempotent:
    support: full
"""

    # A module that changes things: check mode, --diff and a second run without change, all fully supported.
    MUTATING = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
"""
