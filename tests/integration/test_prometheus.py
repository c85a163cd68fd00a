"""The callback ironcloud.stack.prometheus after a lab play: the textfile parses with prometheus_client's parser and
carries the expected series; the same metrics reach a Pushgateway (a stand-in on loopback)."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

PREFIX = "icprom-"


def play(tmp_path: Any, store: str) -> str:
    defaults = {
        "api_host": "{{ proxmox_api_host }}",
        "api_port": "{{ proxmox_api_port }}",
        "api_token_id": "{{ proxmox_api_token_id }}",
        "ca_path": "{{ proxmox_ca_path }}",
    }
    vm = {"node": "pve1", "cores": 1, "memory": 512, "tags": ["ic-tenant-icprom", "ic-project-web"], "state": "present"}
    book = [
        {
            "name": "metrics",
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {"group/ironcloud.stack.proxmox": defaults},
            "tasks": [
                {
                    "name": "tenant",
                    "ironcloud.stack.cloud_tenant": {
                        "name": "icprom",
                        "quota": {"cores": 8, "vms": 4},
                        "projects": ["web"],
                        "state_store": store,
                    },
                },
                {
                    "name": "create",
                    "ironcloud.stack.proxmox_vm": dict(vm, name=PREFIX + "{{ item }}"),
                    "loop": ["a", "b"],
                },
                {"name": "create again (no change)", "ironcloud.stack.proxmox_vm": dict(vm, name=PREFIX + "a")},
                {"name": "skipped", "ansible.builtin.debug": {"msg": "x"}, "when": False},
                {
                    "name": "destroy",
                    "ironcloud.stack.proxmox_vm": {"name": PREFIX + "{{ item }}", "state": "absent"},
                    "loop": ["a", "b"],
                },
                {"name": "usage", "ironcloud.stack.cloud_usage_info": {"state_store": store}},
                {"name": "a failure that is ignored", "ansible.builtin.fail": {"msg": "boom"}, "ignore_errors": True},
            ],
        }
    ]
    path = os.path.join(str(tmp_path), "metrics.yml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(book, f)
    return path


def series(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


class Gateway(http.server.BaseHTTPRequestHandler):
    pushes: list[tuple[str, str, str]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        Gateway.pushes.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    do_POST = do_PUT

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    Gateway.pushes = []
    server = http.server.HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()


@pytest.fixture(autouse=True)
def clean(pve_control: Any) -> Iterator[None]:
    pve_control.call("clear_vms", PREFIX)
    yield
    pve_control.call("clear_vms", PREFIX)


def test_metrics_after_a_lab_play(ansible_playbook: Any, tmp_path: Any, gateway: str, lab_env: dict[str, str]) -> None:
    textfile = tmp_path / "node_exporter" / "ansible.prom"
    env = {
        "ANSIBLE_CALLBACKS_ENABLED": "ironcloud.stack.prometheus",
        "IRONCLOUD_PROMETHEUS_TEXTFILE": str(textfile),
        "IRONCLOUD_PROMETHEUS_PUSHGATEWAY_URL": gateway,
        "IRONCLOUD_PROMETHEUS_JOB": "ironcloud-test",
    }
    result = ansible_playbook(play(tmp_path, "sqlite://%s" % (tmp_path / "state.db")), env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    text = textfile.read_text()
    assert not [p for p in os.listdir(textfile.parent) if p != "ansible.prom"], "the temporary file is gone"
    got = series(text)
    pb = ("playbook", "metrics.yml")
    assert got[("ironcloud_playbook_success", (pb,))] == 1.0
    assert got[("ironcloud_playbook_duration_seconds", (pb,))] > 0
    assert got[("ironcloud_tasks_total", (pb, ("status", "changed")))] == 3.0  # tenant, create loop, destroy loop
    assert got[("ironcloud_tasks_total", (pb, ("status", "ok")))] == 2.0  # create again, usage
    assert got[("ironcloud_tasks_total", (pb, ("status", "skipped")))] == 1.0
    assert got[("ironcloud_tasks_total", (pb, ("status", "ignored")))] == 1.0
    assert got[("ironcloud_tasks_total", (pb, ("status", "failed")))] == 0.0
    assert got[("ironcloud_vms_created_total", (pb, ("tenant", "icprom")))] == 2.0
    destroyed = sum(v for key, v in got.items() if key[0] == "ironcloud_vms_destroyed_total")
    assert destroyed == 2.0
    assert got[("ironcloud_vm_create_duration_seconds_count", (pb, ("tenant", "icprom")))] == 2.0
    assert got[("ironcloud_vm_create_duration_seconds_sum", (pb, ("tenant", "icprom")))] > 0
    assert got[("ironcloud_vm_create_duration_seconds_bucket", (("le", "+Inf"), pb, ("tenant", "icprom")))] == 2.0
    assert got[("ironcloud_tenant_quota", (pb, ("resource", "cores"), ("tenant", "icprom")))] == 8.0
    assert got[("ironcloud_tenant_used", (pb, ("resource", "vms"), ("tenant", "icprom")))] == 0.0
    # nothing secret and no host name in the metrics
    for secret in (lab_env.get("PROXMOX_TOKEN_SECRET"), lab_env.get("PROXMOX_PASSWORD")):
        assert secret and secret not in text
    assert "localhost" not in text and "127.0.86.1" not in text
    # the Pushgateway got the same metrics under job and playbook
    assert len(Gateway.pushes) == 1
    method, path, body = Gateway.pushes[0]
    assert method == "PUT" and path == "/metrics/job/ironcloud-test/playbook/metrics.yml"
    pushed = series(body)
    assert pushed[("ironcloud_vms_created_total", (pb, ("tenant", "icprom")))] == 2.0


def test_unreachable_pushgateway_is_a_warning(ansible_playbook: Any, tmp_path: Any) -> None:
    book = tmp_path / "tiny.yml"
    book.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: msg=hi\n")
    env = {
        "ANSIBLE_CALLBACKS_ENABLED": "ironcloud.stack.prometheus",
        "IRONCLOUD_PROMETHEUS_PUSHGATEWAY_URL": "http://127.0.0.1:9",
    }
    result = ansible_playbook(str(book), env=env)
    assert result.returncode == 0
    assert "push to http://127.0.0.1:9 failed" in " ".join((result.stdout + result.stderr).split())
