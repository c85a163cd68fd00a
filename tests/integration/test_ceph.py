"""The storage layer on the lab's real Ceph: quota enforcement and tenant keys.

The client side runs in Debian's /usr/bin/python3 (tests/integration/ceph_probe.py), the only Python here
with python3-rados; the venv's Python cannot import it and the venv is left as it is. Pools and keys are
made with the collection's modules (a playbook on the lab's ceph_admin host).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import uuid
from typing import Any

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.join(HERE, "ceph_probe.py")
SYSTEM_PYTHON = "/usr/bin/python3"
# Names of this run: other runs of these tests may be going on against the same lab.
RUN = uuid.uuid4().hex[:6]


def probe(lab_env: dict[str, str], *args: str, timeout: int = 120) -> dict[str, Any]:
    env = dict(os.environ, CEPH_CONF=lab_env["CEPH_CONF"])
    done = subprocess.run(
        [SYSTEM_PYTHON, PROBE, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def play(ansible_playbook, tmp_path, name: str, tasks: list[dict[str, Any]]) -> None:
    book = [
        {
            "name": name,
            "hosts": "ceph_admin",
            "gather_facts": False,
            "module_defaults": {
                "group/ironcloud.stack.ceph": {"conf": "{{ ceph_conf }}", "keyring": "{{ ceph_keyring }}"}
            },
            "tasks": tasks,
        }
    ]
    path = tmp_path / (name.replace(" ", "-") + ".yml")
    path.write_text(yaml.safe_dump(book))
    result = ansible_playbook(str(path))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def pool_task(name: str, **settings: Any) -> dict[str, Any]:
    args = {"name": name, "pg_num": 8, "pg_autoscale_mode": "off", "application": "rbd"}
    args.update(settings)
    return {"name": "Pool " + name, "ironcloud.stack.ceph_pool": args}


def drop_pools(*names: str) -> list[dict[str, Any]]:
    return [
        {"name": "Drop " + n, "ironcloud.stack.ceph_pool": {"name": n, "state": "absent", "confirm_delete": True}}
        for n in names
    ]


@pytest.fixture
def cleanup(ansible_playbook, tmp_path):
    tasks: list[dict[str, Any]] = []
    yield tasks
    if tasks:
        play(ansible_playbook, tmp_path, "cleanup", tasks)


def test_write_beyond_quota_fails_fast_with_edquot(lab_env, ansible_playbook, tmp_path, cleanup):
    pool = "ic-test-quota-" + RUN
    cleanup.extend(drop_pools(pool))
    play(ansible_playbook, tmp_path, "quota pool", drop_pools(pool) + [pool_task(pool, quota_max_objects=5)])
    seen = probe(lab_env, "quota", pool)
    assert "full" in seen["flags"], seen
    assert seen["over_quota_write"] == "failed", seen
    assert seen["errno"] == errno.EDQUOT, seen
    assert seen["over_quota_write_seconds"] < 5, seen


def test_tenant_key_is_limited_to_its_pool(lab_env, ansible_playbook, tmp_path, cleanup):
    own, other, entity = "ic-test-own-" + RUN, "ic-test-other-" + RUN, "client.ic-test-tenant-" + RUN
    keyfile = tmp_path / "tenant.key"
    cleanup.extend(
        drop_pools(own, other)
        + [{"name": "Drop key", "ironcloud.stack.ceph_client": {"name": entity, "state": "absent"}}]
    )
    play(
        ansible_playbook,
        tmp_path,
        "tenant",
        drop_pools(own, other)
        + [
            {"name": "Drop key", "ironcloud.stack.ceph_client": {"name": entity, "state": "absent"}},
            pool_task(own),
            pool_task(other),
            {
                "name": "Tenant key",
                "ironcloud.stack.ceph_client": {
                    "name": entity,
                    "caps": {"mon": "profile rbd", "osd": "profile rbd pool=" + own},
                },
                "register": "tenant_key",
                "no_log": True,
            },
            {
                "name": "Keep the key for the probe",
                "ansible.builtin.copy": {"content": "{{ tenant_key.key }}", "dest": str(keyfile), "mode": "0600"},
                "no_log": True,
            },
        ],
    )
    seen = probe(lab_env, "tenant", entity, str(keyfile), own, other)
    assert seen["write_own"] == {"ok": True}, seen
    assert seen["image_own"] == {"ok": True}, seen
    assert seen["write_other"]["ok"] is False and seen["write_other"]["error"] == "PermissionError", seen
    assert seen["image_other"]["ok"] is False and "PermissionError" in seen["image_other"]["error"], seen
    assert seen["pool_create"]["rc"] == -errno.EACCES, seen
