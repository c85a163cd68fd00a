"""client.py helpers and task waiting, against a stub transport."""

from __future__ import annotations

import pytest
from pve_stub import Clock, StubApi, client, stopped, upid

from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox import client as pve


def test_to_api_booleans_and_none():
    assert pve.to_api({"a": True, "b": False, "c": None, "d": "x", "e": 0}) == {"a": 1, "b": 0, "d": "x", "e": 0}


def test_parse_upid():
    info = pve.parse_upid("UPID:pve-2:0000ABCD:001234567:6B071B18:qmclone:9000:ic-acme@pve!ironcloud:")
    assert info == {"node": "pve-2", "type": "qmclone", "id": "9000", "user": "ic-acme@pve!ironcloud"}
    assert pve.parse_upid("UPID:pve1:0000ABCD:00123456:6B071B18:reloadnetworkall::root@pam:")["id"] == ""
    with pytest.raises(pve.ProxmoxError, match="UPID"):
        pve.parse_upid("UPID:pve1:1:2:3:qmstart:100:root@pam:done")
    with pytest.raises(pve.ProxmoxError):
        pve.parse_upid(None)


@pytest.mark.parametrize(
    "status,ok",
    [
        ("OK", True),
        ("WARNINGS: 2", True),
        ("VM 100 already running", False),
        ("unexpected status", False),
        (None, False),
    ],
)
def test_task_succeeded(status, ok):
    assert pve.task_succeeded(status) is ok


def test_poll_delays_grow_to_cap():
    delay = pve.poll_delays(first=0.1, factor=2, cap=0.5)
    assert [delay() for _ignored in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]


def test_wait_task_polls_until_stopped():
    api = StubApi()
    task = upid("pve2", "qmstart", 101)
    path = "nodes/pve2/tasks/%s/status" % task
    api.on("GET", path, {"status": "running"}, {"status": "running"}, stopped("WARNINGS: 1"))
    clock = Clock()
    status = client(api, clock).wait_task(task, 10, "start VM 101")
    assert status["exitstatus"] == "WARNINGS: 1"
    assert [c[1] for c in api.calls] == [path] * 3
    assert len(clock.sleeps) == 2


def test_failed_task_carries_the_end_of_its_log():
    api = StubApi()
    task = upid("pve1", "qmclone", 9000)
    api.on("GET", "nodes/pve1/tasks/%s/status" % task, stopped("clone failed: no space"))
    api.on(
        "GET",
        "nodes/pve1/tasks/%s/log" % task,
        [{"n": n, "t": "line %d" % n} for n in range(1, 30)] + [{"n": 30, "t": "TASK ERROR: clone failed"}],
    )
    with pytest.raises(pve.ProxmoxError) as caught:
        client(api).wait_task(task, 10, "clone VM 9000 to 101")
    assert caught.value.message == "clone VM 9000 to 101 failed: clone failed: no space"
    assert caught.value.details["upid"] == task
    assert caught.value.details["task_log"][-1] == "TASK ERROR: clone failed"
    assert len(caught.value.details["task_log"]) == pve.TASK_LOG_TAIL


def test_wait_task_times_out():
    api = StubApi()
    task = upid("pve1", "qmigrate", 100)
    api.on("GET", "nodes/pve1/tasks/%s/status" % task, {"status": "running"})
    with pytest.raises(pve.ProxmoxError, match="still running after 3s"):
        client(api).wait_task(task, 3, "migrate VM 100")


def test_request_takes_parameters_named_like_arguments():
    api = StubApi()
    api.on("PUT", "access/acl", None)
    client(api).request("put", "access/acl", {"path": "/pool/ic-a", "roles": "PVEVMAdmin", "propagate": True})
    assert api.calls == [("PUT", "access/acl", {"path": "/pool/ic-a", "roles": "PVEVMAdmin", "propagate": 1})]


def _no_login(*args, **kwargs):
    # What requests raises when verify names a missing file, at the first request (the login).
    raise OSError("Could not find a suitable TLS CA certificate bundle, invalid path: %s" % kwargs.get("verify_ssl"))


CREDENTIALS = {"api_host": "pve.example.com", "api_token_id": "ci@pve!t", "api_token_secret": "s"}


def test_missing_ca_path_is_an_error_naming_it_before_any_request(monkeypatch, tmp_path):
    monkeypatch.setattr(pve, "ProxmoxAPI", _no_login)
    missing = str(tmp_path / "nope" / "ca.pem")
    with pytest.raises(pve.ValidationError) as caught:
        pve.ProxmoxClient(dict(CREDENTIALS, ca_path=missing))
    assert caught.value.message.startswith("ca_path: %s does not exist" % missing)


def test_existing_ca_path_or_no_verification_is_passed_on(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(pve, "ProxmoxAPI", lambda host, **kwargs: seen.append(kwargs["verify_ssl"]) or object())
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    pve.ProxmoxClient(dict(CREDENTIALS, ca_path=str(ca)))
    pve.ProxmoxClient(dict(CREDENTIALS, ca_path=str(tmp_path / "missing.pem"), validate_certs=False))
    pve.ProxmoxClient(dict(CREDENTIALS))
    assert seen == [str(ca), False, True]
