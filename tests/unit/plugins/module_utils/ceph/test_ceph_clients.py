"""ceph_client over a fake cluster: created once with its key, caps converged, removed; the key never leaks."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.clients import CephClients
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError

KEY = "AQBOGQdr7+QgMxAAYHEvHch0kTyMmAnF1XhqwA=="


class FakeAuth:
    def __init__(self) -> None:
        self.entities: dict[str, dict[str, Any]] = {}
        self.commands: list[tuple[str, dict[str, Any]]] = []

    def mon(self, prefix: str, ok: tuple = (), **args: Any) -> Any:
        entity = args["entity"]
        if prefix == "auth get":
            if entity not in self.entities:
                assert -errno.ENOENT in ok
                return {"rc": -errno.ENOENT, "status": "failed to find"}
            return [dict(self.entities[entity], entity=entity)]
        self.commands.append((prefix, args))
        caps = dict(zip(args.get("caps", [])[::2], args.get("caps", [])[1::2], strict=True))
        if prefix == "auth get-or-create":
            self.entities[entity] = {"key": KEY, "caps": caps}
            return [{"entity": entity, "key": KEY, "caps": caps}]
        if prefix == "auth caps":
            self.entities[entity]["caps"] = caps
        elif prefix == "auth del":
            del self.entities[entity]
        return None


def params(**over: Any) -> dict[str, Any]:
    base = {
        "name": "client.acme",
        "caps": {"mon": "profile rbd", "osd": "profile rbd pool=a"},
        "state": "present",
        "return_key": False,
    }
    base.update(over)
    return base


def test_create_returns_the_key_once():
    auth = FakeAuth()
    predicted = CephClients(auth).ensure(params(), True)
    assert predicted["changed"] and "key" not in predicted and auth.commands == []
    created = CephClients(auth).ensure(params(), False)
    assert created["changed"] and created["key"] == KEY
    assert KEY not in repr({k: v for k, v in created.items() if k != "key"})
    again = CephClients(auth).ensure(params(caps={"mon": "profile  rbd", "osd": "profile rbd pool = a"}), False)
    assert again["changed"] is False and "key" not in again
    assert CephClients(auth).ensure(params(return_key=True), False)["key"] == KEY


def test_caps_converge_and_key_stays():
    auth = FakeAuth()
    CephClients(auth).ensure(params(), False)
    result = CephClients(auth).ensure(params(caps={"mon": "profile rbd", "osd": "profile rbd pool=b"}), False)
    assert result["changed"]
    assert result["diff"]["before"]["caps"]["osd"] == "profile rbd pool=a"
    assert result["diff"]["after"]["caps"]["osd"] == "profile rbd pool=b"
    assert auth.commands[-1][0] == "auth caps"
    assert auth.entities["client.acme"]["key"] == KEY


def test_remove():
    auth = FakeAuth()
    CephClients(auth).ensure(params(), False)
    assert CephClients(auth).ensure(params(state="absent"), True)["changed"]
    assert "client.acme" in auth.entities
    assert CephClients(auth).ensure(params(state="absent"), False)["changed"]
    assert CephClients(auth).ensure(params(state="absent"), False)["changed"] is False


def test_bad_caps_before_any_command():
    auth = FakeAuth()
    with pytest.raises(ValidationError, match="caps.osd: 'rwx' is not a grant"):
        CephClients(auth).ensure(params(caps={"osd": "rwx"}), False)
    assert auth.commands == []
