"""Client of the lab fake's control socket (see control.py), for tests and benchmarks."""

from __future__ import annotations

import http.client
import json
import os
import socket
from typing import Any


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=120)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class LabPveControl:
    """LabPveControl().call("set_node_offline", "pve2"); .set("time_scale", 0)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or os.environ["IRONCLOUD_LAB_PVE_CONTROL"]

    def _post(self, url: str, payload: dict) -> Any:
        conn = _UnixConnection(self.path)
        try:
            conn.request("POST", url, body=json.dumps(payload), headers={"Content-Type": "application/json"})
            answer = json.loads(conn.getresponse().read() or b"{}")
        finally:
            conn.close()
        if "error" in answer:
            raise RuntimeError("lab pve control: " + answer["error"])
        return answer.get("result")

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._post("/call", {"method": method, "args": list(args), "kwargs": kwargs})

    def set(self, attr: str, value: Any) -> None:
        self._post("/set", {"attr": attr, "value": value})
