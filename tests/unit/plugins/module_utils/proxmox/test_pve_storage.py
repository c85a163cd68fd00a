"""proxmox_storage: the RBD storage entry, desired vs current, without the API."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox import storage


def params(**over: Any) -> dict[str, Any]:
    base = {
        "name": "ic-acme-rbd",
        "state": "present",
        "pool": None,
        "monitors": None,
        "user": None,
        "keyring": None,
        "update_keyring": False,
        "namespace": None,
        "content": None,
        "krbd": None,
        "nodes": None,
        "disable": None,
    }
    base.update(over)
    return base


def test_split_list():
    assert storage.split_list("10.0.0.1 10.0.0.2;10.0.0.3,10.0.0.4") == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert storage.split_list(None) == []
    assert storage.split_list(["a", " b "]) == ["a", "b"]


def test_username_and_keyring():
    assert storage.username_of("client.acme") == "acme"
    assert storage.username_of("acme") == "acme"
    assert storage.keyring_text("AQBkey==", "acme") == "[client.acme]\n\tkey = AQBkey==\n"
    full = "[client.acme]\n\tkey = AQBkey==\n"
    assert storage.keyring_text(full, "other") == full


def test_desired_and_current_compare_equal():
    want = storage.desired(
        params(
            pool="ic-acme",
            monitors=["10.0.0.2:6789", "10.0.0.1"],
            user="client.acme",
            content=["rootdir", "images"],
            nodes=["pve2", "pve1"],
            krbd=False,
        )
    )
    have = storage.current(
        {
            "type": "rbd",
            "pool": "ic-acme",
            "monhost": "10.0.0.1 10.0.0.2:6789",
            "username": "acme",
            "content": "images,rootdir",
            "nodes": "pve1,pve2",
            "krbd": 0,
            "digest": "x",
        }
    )
    assert {k: v for k, v in want.items() if v is not None} == {k: have[k] for k in want if want[k] is not None}


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"monitors": ["not a host!"]}, "monitors: 'not a host!' is not a monitor address"),
        ({"content": ["iso"]}, "content: an RBD storage holds images and/or rootdir"),
    ],
)
def test_bad_input(over, message):
    with pytest.raises(ValidationError) as e:
        storage.desired(params(**over))
    assert message in str(e.value)


class FakeApi:
    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = {e["storage"]: dict(e) for e in entries}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def get(self, path: str, **kw: Any) -> Any:
        return [dict(e, digest="d1") for e in self.entries.values()]

    def post(self, path: str, **kw: Any) -> None:
        self.calls.append(("POST", path, kw))
        entry = {k: v for k, v in kw.items() if k != "keyring"}
        self.entries[kw["storage"]] = entry

    def put(self, path: str, **kw: Any) -> None:
        self.calls.append(("PUT", path, kw))
        self.entries[path.split("/")[1]].update({k: v for k, v in kw.items() if k not in ("keyring", "digest")})

    def delete(self, path: str, **kw: Any) -> None:
        self.calls.append(("DELETE", path, kw))
        del self.entries[path.split("/")[1]]


def test_create_update_remove():
    api = FakeApi([])
    manager = storage.StorageManager(api)  # type: ignore[arg-type]
    p = params(pool="ic-acme", monitors=["10.0.0.1"], user="client.acme", keyring="AQBkey==")
    assert manager.ensure(p, True)["changed"] and api.calls == []
    created = manager.ensure(p, False)
    assert created["changed"] and "keyring" not in created["storage"]
    assert api.calls[0][2]["keyring"].startswith("[client.acme]")
    assert api.calls[0][2]["content"] == "images"
    assert manager.ensure(p, False)["changed"] is False
    updated = manager.ensure(params(pool="ic-acme2"), False)
    assert updated["changed"] and updated["diff"] == {"before": {"pool": "ic-acme"}, "after": {"pool": "ic-acme2"}}
    assert api.calls[-1][2] == {"pool": "ic-acme2", "digest": "d1"}
    assert manager.ensure(params(state="absent"), False)["changed"]
    assert manager.ensure(params(state="absent"), False)["changed"] is False


def test_create_needs_pool_and_monitors():
    with pytest.raises(ValidationError, match="monitors: required to create RBD storage ic-acme-rbd"):
        storage.StorageManager(FakeApi([])).ensure(params(pool="x"), False)  # type: ignore[arg-type]
