"""A stub of ProxmoxClient's transport for unit tests: canned answers per (method, path), recorded calls."""

from __future__ import annotations

from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxClient, ProxmoxError

Answer = Any  # a value, an exception to raise, or a callable of the request's parameters


class StubApi:
    """Stands in for proxmoxer's ProxmoxAPI: api(path).get(**params) and friends."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[Answer]] = {}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.answers.setdefault((method, path), []).extend(answers)

    def __call__(self, path: str) -> Any:
        api = self

        class Resource:
            def _do(self, method: str, params: dict[str, Any]) -> Any:
                api.calls.append((method, path, params))
                queue = api.answers.get((method, path))
                if not queue:
                    raise AssertionError("unexpected %s %s %r" % (method, path, params))
                answer = queue.pop(0) if len(queue) > 1 else queue[0]
                if callable(answer):
                    answer = answer(params)
                if isinstance(answer, Exception):
                    raise answer
                return answer

            def get(self, **params: Any) -> Any:
                return self._do("GET", params)

            def post(self, **params: Any) -> Any:
                return self._do("POST", params)

            def put(self, **params: Any) -> Any:
                return self._do("PUT", params)

            def delete(self, **params: Any) -> Any:
                return self._do("DELETE", params)

        return Resource()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, secs: float) -> None:
        self.sleeps.append(secs)
        self.now += secs


def client(api: StubApi, clock: Clock | None = None) -> ProxmoxClient:
    clock = clock or Clock()
    return ProxmoxClient({"api_host": "pve.example.com"}, api=api, sleep=clock.sleep, clock=clock)


def upid(node: str, kind: str, vmid: Any, n: int = 1) -> str:
    return "UPID:%s:%08X:%08X:%08X:%s:%s:root@pam!ci:" % (node, 1000 + n, 7000 + n, 1767225600 + n, kind, vmid)


def stopped(exitstatus: str = "OK") -> dict[str, Any]:
    return {"status": "stopped", "exitstatus": exitstatus}


__all__ = ["StubApi", "Clock", "client", "upid", "stopped", "ProxmoxError"]
