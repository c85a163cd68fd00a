# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters invoice_csv and invoice_html: cloud_invoice_info's invoices rendered on the controller.

Their documentation is in invoice_csv.yml and invoice_html.yml beside this file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.ironcloud.stack.plugins.plugin_utils.invoice_render import to_csv, to_html


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"invoice_csv": to_csv, "invoice_html": to_html}
