"""cloud_usage_info's storage_gb from the tenant's Ceph pool on the lab's real Ceph (before: always 0).

The module runs on the lab's Ceph admin host (the system Python, which has python3-rados) against a SQLite store the
test makes; the data is written into the tenant's pool with the `rados` CLI, as a tenant's disks would fill it.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def playbook(tmp_path: Any, tenant: str, store: str) -> str:
    pool = "ic-" + tenant
    usage = {
        "ironcloud.stack.cloud_usage_info": {
            "tenant": tenant,
            "state_store": store,
            "storage_usage": True,
            "conf": "{{ ceph_conf }}",
            "keyring": "{{ ceph_keyring }}",
        }
    }
    plays = [
        {
            "name": "The tenant in the store",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Tenant with a storage quota of 5 GiB",
                    "ironcloud.stack.cloud_tenant": {"name": tenant, "quota": {"storage_gb": 5}, "state_store": store},
                }
            ],
        },
        {
            "name": "Its pool, empty, then with data",
            "hosts": "ceph_admin",
            "gather_facts": False,
            "module_defaults": {
                "group/ironcloud.stack.ceph": {"conf": "{{ ceph_conf }}", "keyring": "{{ ceph_keyring }}"}
            },
            "tasks": [
                {"name": "Pool", "ironcloud.stack.ceph_pool": {"name": pool, "pg_num": 8, "pg_autoscale_mode": "off"}},
                {
                    "block": [
                        dict({"name": "Usage of the empty pool", "register": "empty"}, **usage),
                        {
                            "name": "Write 3 MiB into the pool",
                            "ansible.builtin.shell": (
                                "head -c 3145728 /dev/urandom > {{ tmp }}/blob && "
                                "rados -c {{ ceph_conf }} -k {{ ceph_keyring }} -p %s put blob {{ tmp }}/blob" % pool
                            ),
                            "changed_when": True,
                        },
                        dict(
                            {
                                "name": "Usage once Ceph's statistics show the data",
                                "register": "full",
                                "until": "(full.tenants | first).used.storage_gb > 0",
                                "retries": 30,
                                "delay": 2,
                            },
                            **usage,
                        ),
                        {
                            "name": "Keep the results",
                            "ansible.builtin.copy": {
                                "content": "{{ {'empty': empty.tenants[0], 'full': full.tenants[0]} | to_json }}",
                                "dest": "{{ tmp }}/result.json",
                                "mode": "0600",
                            },
                        },
                    ],
                    "always": [
                        {
                            "name": "Remove the pool",
                            "ironcloud.stack.ceph_pool": {"name": pool, "state": "absent", "confirm_delete": True},
                        }
                    ],
                },
            ],
        },
    ]
    path = os.path.join(str(tmp_path), "storage.yml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(plays, f, sort_keys=False)
    return path


def test_storage_gb_is_what_the_tenants_pool_stores(tmp_path, ansible_playbook):
    tenant = "stor" + uuid.uuid4().hex[:8]
    store = "sqlite:///%s/state.db" % tmp_path
    result = ansible_playbook(
        playbook(tmp_path, tenant, store),
        "-i",
        os.path.join(ROOT, "inventories", "lab"),
        "-e",
        "tmp=%s" % tmp_path,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    with open(os.path.join(str(tmp_path), "result.json"), encoding="utf-8") as f:
        found = json.load(f)
    assert found["empty"]["used"]["storage_gb"] == 0
    assert found["empty"]["free"]["storage_gb"] == 5
    # 3 MiB stored, rounded up to whole GiB
    assert found["full"]["used"]["storage_gb"] == 1
    assert found["full"]["free"]["storage_gb"] == 4
    assert found["full"]["quota"]["storage_gb"] == 5
