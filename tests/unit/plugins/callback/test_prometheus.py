"""The prometheus callback's logic: result classification, tenant usage, rendering, and the plugin's events."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.ironcloud.stack.plugins.callback import prometheus as cb


def samples(registry: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def created_result(tenant: str = "acme", action: str = "created") -> dict[str, Any]:
    return {
        "changed": True,
        "actions": [action, "started"],
        "vm": {"vmid": 100, "name": "a", "config": {"tags": "ic-tenant-%s;ic-project-web" % tenant}},
    }


@pytest.mark.parametrize(
    "result, created, destroyed",
    [
        (created_result(), True, False),
        (created_result(action="cloned"), True, False),
        ({"changed": True, "actions": ["configured"]}, False, False),
        ({"changed": False, "actions": []}, False, False),
        ({"changed": True, "actions": ["stopped", "destroyed"]}, False, True),
        ({"changed": True, "actions": "created"}, False, False),
    ],
)
def test_created_destroyed(result: dict[str, Any], created: bool, destroyed: bool) -> None:
    assert cb.created_vm(result) is created
    assert cb.destroyed_vm(result) is destroyed


def test_tenant_of_vm() -> None:
    assert cb.tenant_of_vm(created_result("globex")) == "globex"
    assert cb.tenant_of_vm({"vm": {"tags": ["ic-project-x", "ic-tenant-t1"]}}) == "t1"
    assert cb.tenant_of_vm({"vm": {"config": {}}, "diff": {"before": {"tags": "ic-tenant-z"}}}) == "z"
    assert cb.tenant_of_vm({"vm": None}) == ""


def test_tenant_usage_shapes() -> None:
    tenant = {
        "tenant": {
            "name": "acme",
            "quota": {"cores": 10, "vms": None},
            "used": {"cores": 4},
            "reserved": {"cores": 1},
            "token_secret": "s3cret",
        }
    }
    assert cb.tenant_usage(tenant) == {
        "acme": {"quota": {"cores": 10.0}, "used": {"cores": 4.0}, "reserved": {"cores": 1.0}}
    }
    info = {"tenants": [{"name": "a", "quota": {}, "usage": {"vms": 2}}, {"name": "b", "used": {"vms": True}}, 5]}
    assert cb.tenant_usage(info) == {
        "a": {"quota": {}, "used": {"vms": 2.0}, "reserved": {}},
        "b": {"quota": {}, "used": {}, "reserved": {}},
    }


@pytest.mark.parametrize(
    "kind, result, ignore, status",
    [
        ("ok", {"changed": False}, False, "ok"),
        ("ok", {"changed": True}, False, "changed"),
        ("failed", {}, False, "failed"),
        ("failed", {}, True, "ignored"),
        ("skipped", {}, False, "skipped"),
        ("unreachable", {}, False, "unreachable"),
    ],
)
def test_status_of(kind: str, result: dict[str, Any], ignore: bool, status: str) -> None:
    assert cb.status_of(kind, result, ignore) == status


def test_render_parses_and_carries_series() -> None:
    clock = iter([100.0, 112.5]).__next__
    run = cb.RunMetrics("vm_create.yml", clock=clock)
    for status in ("ok", "changed", "changed", "skipped"):
        run.task(status)
    run.vm_result(created_result(), 7.0)
    run.vm_result(created_result("globex", "cloned"), 40.0)
    run.vm_result({"changed": True, "actions": ["destroyed"], "vm": {"config": {}}}, 1.0)
    run.usage_result({"tenant": {"name": "acme", "quota": {"cores": 8}, "used": {"cores": 2}, "reserved": {}}})
    got = samples(run.render())
    pb = ("playbook", "vm_create.yml")
    assert got[("ironcloud_playbook_duration_seconds", (pb,))] == 12.5
    assert got[("ironcloud_playbook_success", (pb,))] == 1.0
    assert got[("ironcloud_tasks_total", (pb, ("status", "changed")))] == 2.0
    assert got[("ironcloud_tasks_total", (pb, ("status", "unreachable")))] == 0.0
    assert got[("ironcloud_vms_created_total", (pb, ("tenant", "acme")))] == 1.0
    assert got[("ironcloud_vms_created_total", (pb, ("tenant", "globex")))] == 1.0
    assert got[("ironcloud_vms_destroyed_total", (pb, ("tenant", "")))] == 1.0
    hist = ("ironcloud_vm_create_duration_seconds_bucket", (("le", "10.0"), pb, ("tenant", "acme")))
    assert got[hist] == 1.0
    assert got[("ironcloud_vm_create_duration_seconds_sum", (pb, ("tenant", "globex")))] == 40.0
    assert got[("ironcloud_tenant_quota", (pb, ("resource", "cores"), ("tenant", "acme")))] == 8.0
    assert got[("ironcloud_tenant_used", (pb, ("resource", "cores"), ("tenant", "acme")))] == 2.0
    assert not [k for k in got if k[0].endswith("_created") and not k[0].startswith("ironcloud_vms")]


def test_failure_makes_success_zero() -> None:
    run = cb.RunMetrics("x.yml")
    run.task("failed")
    assert samples(run.render())[("ironcloud_playbook_success", (("playbook", "x.yml"),))] == 0.0
    run.failed_hosts = 0  # the recap says the failure was rescued
    assert run.success()


# --------------------------------------------------------------------------------------- the plugin


class Host:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_name(self) -> str:
        return self.name


def task(action: str, uuid: str = "t1", check_mode: bool = False) -> SimpleNamespace:
    return SimpleNamespace(resolved_action=action, action=action.rsplit(".", 1)[-1], _uuid=uuid, check_mode=check_mode)


def result(t: SimpleNamespace, values: dict[str, Any], host: str = "localhost") -> SimpleNamespace:
    return SimpleNamespace(task=t, host=Host(host), result=values)


@pytest.fixture
def plugin(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("IRONCLOUD_PROMETHEUS_TEXTFILE", str(tmp_path / "tf" / "ansible.prom"))
    monkeypatch.delenv("IRONCLOUD_PROMETHEUS_PUSHGATEWAY_URL", raising=False)
    from ansible.plugins.loader import callback_loader

    p = callback_loader.get("ironcloud.stack.prometheus")
    p.set_options()
    p.v2_playbook_on_start(SimpleNamespace(_file_name="/x/site.yml"))
    return p


def test_plugin_writes_textfile(plugin: Any, tmp_path: Any) -> None:
    t = task("ironcloud.stack.proxmox_vm")
    plugin.v2_runner_on_start(Host("localhost"), t)
    plugin.v2_runner_on_ok(result(t, created_result()))
    loop = task("ironcloud.stack.proxmox_vm", "t2")
    plugin.v2_runner_on_start(Host("localhost"), loop)
    plugin.v2_runner_item_on_ok(result(loop, created_result("b")))
    plugin.v2_runner_item_on_ok(result(loop, created_result("c")))
    plugin.v2_runner_on_ok(result(loop, {"changed": True, "results": [created_result("b"), created_result("c")]}))
    check = task("ironcloud.stack.proxmox_vm", "t3", check_mode=True)
    plugin.v2_runner_on_start(Host("localhost"), check)
    plugin.v2_runner_on_ok(result(check, created_result("d")))
    usage = task("ironcloud.stack.cloud_usage_info", "t4")
    plugin.v2_runner_on_ok(
        result(usage, {"changed": False, "tenants": [{"name": "acme", "quota": {"vms": 3}, "used": {"vms": 1}}]})
    )
    plugin.v2_runner_on_failed(result(task("ansible.builtin.fail", "t5"), {"failed": True}), ignore_errors=True)
    plugin.v2_runner_on_unreachable(result(task("ansible.builtin.ping", "t6"), {"unreachable": True}, host="h2"))
    plugin.v2_playbook_on_stats(SimpleNamespace(failures={}, dark={"h2": 1}))
    text = (tmp_path / "tf" / "ansible.prom").read_text()
    got = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            got[(s.name, tuple(sorted(s.labels.items())))] = s.value
    pb = ("playbook", "site.yml")
    assert got[("ironcloud_vms_created_total", (pb, ("tenant", "acme")))] == 1.0
    assert got[("ironcloud_vms_created_total", (pb, ("tenant", "b")))] == 1.0
    assert ("ironcloud_vms_created_total", (pb, ("tenant", "d"))) not in got, "check mode creates nothing"
    assert got[("ironcloud_vm_create_duration_seconds_count", (pb, ("tenant", "c")))] == 1.0
    assert got[("ironcloud_tasks_total", (pb, ("status", "changed")))] == 3.0
    assert got[("ironcloud_tasks_total", (pb, ("status", "ignored")))] == 1.0
    assert got[("ironcloud_tasks_total", (pb, ("status", "unreachable")))] == 1.0
    assert got[("ironcloud_playbook_success", (pb,))] == 0.0
    assert got[("ironcloud_tenant_quota", (pb, ("resource", "vms"), ("tenant", "acme")))] == 3.0
    assert "localhost" not in text and "h2" not in text


def test_plugin_without_destination_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IRONCLOUD_PROMETHEUS_TEXTFILE", raising=False)
    monkeypatch.delenv("IRONCLOUD_PROMETHEUS_PUSHGATEWAY_URL", raising=False)
    from ansible.plugins.loader import callback_loader

    p = callback_loader.get("ironcloud.stack.prometheus")
    p.set_options()
    assert p.disabled


def test_pushgateway_failure_is_a_warning(plugin: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pushed: list[dict[str, Any]] = []

    def push(url: str, **kwargs: Any) -> None:
        pushed.append(dict(kwargs, url=url))
        raise OSError("connection refused")

    monkeypatch.setattr(cb, "push_to_gateway", push)
    monkeypatch.setenv("IRONCLOUD_PROMETHEUS_PUSHGATEWAY_URL", "http://127.0.0.1:9")
    plugin.set_options()
    plugin.v2_playbook_on_start(SimpleNamespace(_file_name="site.yml"))
    plugin.v2_playbook_on_stats(SimpleNamespace(failures={}, dark={}))
    assert pushed[0]["job"] == "ansible" and pushed[0]["grouping_key"] == {"playbook": "site.yml"}
