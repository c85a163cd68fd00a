"""Every request the lab's API answers, appended to a JSON-lines file for the schema check."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any


class RecorderMixin:
    """Writes {method, path, params} of each request to request_log (secrets replaced by ***).

    tests/lab/pve/schema_check.py validates that file against the PVE 8.4 and 9.1 schemas; the
    integration tests fail on any request either would refuse.
    """

    request_log: str | None = None
    SECRETS = ("password", "new-password", "confirmation-password", "ticket", "vncticket", "otp", "tfa-challenge")

    def _record(self, request, body):
        super()._record(request, body)
        if not self.request_log or not request.path.startswith("/api2/json/"):
            return
        params: dict[str, Any] = dict(urllib.parse.parse_qsl(request.query_string, keep_blank_values=True))
        if body and request.content_type == "application/x-www-form-urlencoded":
            params.update(urllib.parse.parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
        elif body and request.content_type == "application/json":
            try:
                params.update(json.loads(body))
            except ValueError:
                params["<body>"] = "unparseable JSON"
        for key in self.SECRETS:
            if key in params:
                params[key] = "***"
        who = request.headers.get("Authorization", "")
        entry = {
            "method": request.method,
            "path": request.path[len("/api2/json") :],
            "params": params,
            "token": who.startswith("PVEAPIToken="),
        }
        with open(self.request_log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
