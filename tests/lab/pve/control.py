"""The lab's control channel: tests steer the running fake (faults, scenarios, bulk data) over a unix socket.

POST /call {"method": "set_node_offline", "args": ["pve2"], "kwargs": {}} calls a method of the fake
(awaited when it is a coroutine) and answers {"result": ...}; POST /set {"attr": ..., "value": ...}
sets an attribute (time_scale, ...). The socket is the owner's only (0600): it is as powerful as root.
tests/lab/pve/client.py is the client.
"""

from __future__ import annotations

import inspect
import json
import os
from typing import Any

from aiohttp import web


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        if isinstance(value, (set, tuple)):
            return [_jsonable(v) for v in value]
        if isinstance(value, dict):
            return {str(k): _jsonable(v) for k, v in value.items()}
        return repr(value)


class ControlMixin:
    control_runner = None

    async def start_control(self, path: str) -> None:
        app = web.Application()
        app.router.add_post("/call", self._control_call)
        app.router.add_post("/set", self._control_set)
        self.control_runner = web.AppRunner(app)
        await self.control_runner.setup()
        if os.path.exists(path):
            os.unlink(path)
        old = os.umask(0o177)
        try:
            await web.UnixSite(self.control_runner, path).start()
        finally:
            os.umask(old)

    async def _control_call(self, request: web.Request) -> web.Response:
        spec = await request.json()
        method = getattr(self, spec["method"], None)
        if method is None or spec["method"].startswith("_"):
            return web.json_response({"error": "no public method %r" % spec["method"]}, status=400)
        try:
            result = method(*spec.get("args", []), **spec.get("kwargs", {}))
            if inspect.isawaitable(result):
                result = await result
        except Exception as e:
            return web.json_response({"error": "%s: %s" % (type(e).__name__, e)}, status=500)
        return web.json_response({"result": _jsonable(result)})

    async def _control_set(self, request: web.Request) -> web.Response:
        spec = await request.json()
        setattr(self, spec["attr"], spec["value"])
        return web.json_response({"result": None})
