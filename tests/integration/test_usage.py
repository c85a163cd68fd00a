"""playbooks/usage.yml on a state store with a ledger: the JSON, CSV and HTML reports per tenant and project."""

from __future__ import annotations

import csv
import io
import json
import os
import time
import xml.etree.ElementTree as ET
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
H = 3600.0
MiB = 1024 * 1024
NODES = [{"type": "node", "node": "pve1", "status": "online", "maxcpu": 64, "maxmem": 262144 * MiB, "mem": 0}]


def seed(url: str, t0: float) -> None:
    """acme/web: a 2-core VM for 3 h (released), acme/db: a 4-core VM for 5 h (running); globex: nothing."""
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import reservations as res
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import open_store
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.tenants import ensure_tenant

    def cluster() -> res.Cluster:
        return res.Cluster(NODES)

    store = open_store(url)
    try:
        ensure_tenant(
            store,
            {"name": "acme", "quota": {"cores": 8, "memory_mb": 16384, "vms": 4}, "projects": ["web", "db"]},
            False,
            t0,
        )
        ensure_tenant(store, {"name": "globex", "projects": ["ml"]}, False, t0)
        for rid, vmid, cores, memory, project in (("u1", 901, 2, 2048, "web"), ("u2", 902, 4, 8192, "db")):
            res.ensure_reservation(
                store,
                {
                    "tenant": "acme",
                    "project": project,
                    "id": rid,
                    "cores": cores,
                    "memory_mb": memory,
                    "disk_gb": 20,
                    "state": "present",
                },
                cluster,
                False,
                t0,
            )
            res.ensure_reservation(store, {"id": rid, "vmid": vmid, "state": "committed"}, cluster, False, t0)
        res.ensure_reservation(store, {"vmid": 901, "state": "absent"}, cluster, False, t0 + 3 * H)
    finally:
        store.close()


def test_usage_report_files(ansible_playbook: Any, tmp_path: Any) -> None:
    t0 = time.time() - 5 * H
    url = "sqlite://%s" % (tmp_path / "state.db")
    seed(url, t0)
    out = tmp_path / "reports"
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 5 * H))
    result = ansible_playbook(
        os.path.join(ROOT, "playbooks", "usage.yml"),
        extra_vars={"usage_dir": str(out), "usage_end": until, "usage_name": "nov"},
        env={"IRONCLOUD_STATE_STORE": url},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert sorted(os.listdir(out)) == ["nov.csv", "nov.html", "nov.json"]

    report = json.loads((out / "nov.json").read_text())
    assert [t["name"] for t in report["tenants"]] == ["acme", "globex"]
    acme = report["tenants"][0]
    projects = {p["name"]: p for p in acme["projects"]}
    assert abs(projects["web"]["vm_hours"] - 3.0) < 0.01 and abs(projects["web"]["core_hours"] - 6.0) < 0.02
    assert abs(projects["db"]["vm_hours"] - 5.0) < 0.01 and abs(projects["db"]["memory_gb_hours"] - 40.0) < 0.1
    assert projects["db"]["by_size"][0]["size"] == "4c-8192m-20g"
    assert acme["quota"]["cores"] == 8 and acme["used"]["cores"] == 4 and acme["quota_used_pct"]["cores"] == 50.0
    assert abs(report["totals"]["vm_hours"] - 8.0) < 0.02

    rows = list(csv.DictReader(io.StringIO((out / "nov.csv").read_text())))
    assert [(r["tenant"], r["project"], r["size"]) for r in rows] == [
        ("acme", "db", "4c-8192m-20g"),
        ("acme", "web", "2c-2048m-20g"),
        ("globex", "ml", ""),
    ]

    page = (out / "nov.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 2
    for chunk in page.split("<svg")[1:]:
        ET.fromstring("<svg" + chunk.split("</svg>")[0] + "</svg>")
    assert "acme cores" in page and "acme / db" in page and "<script" not in page and "src=" not in page

    again = ansible_playbook(
        os.path.join(ROOT, "playbooks", "usage.yml"),
        extra_vars={"usage_dir": str(out), "usage_end": until, "usage_name": "nov"},
        env={"IRONCLOUD_STATE_STORE": url},
    )
    assert again.returncode == 0 and "changed=0" in again.stdout, "the same period gives the same files"
