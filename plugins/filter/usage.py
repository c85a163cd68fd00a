# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters usage_csv and usage_html: cloud_usage_report's report rendered on the controller.

Their documentation is in usage_csv.yml and usage_html.yml beside this file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.ironcloud.stack.plugins.plugin_utils.usage_render import to_csv, to_html


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"usage_csv": to_csv, "usage_html": to_html}
