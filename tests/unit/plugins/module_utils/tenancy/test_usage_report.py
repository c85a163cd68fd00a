"""The usage report: intervals, VM-hours by size, quota use (module_utils); CSV and HTML (plugin_utils)."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import usage_report as ur
from ansible_collections.ironcloud.stack.plugins.plugin_utils import usage_render as render

H = 3600.0


def ev(
    at: float,
    event: str,
    rid: str,
    tenant: str = "acme",
    project: str = "web",
    cores: int = 2,
    memory_mb: int = 4096,
    disk_gb: int = 20,
    vmid: int | None = 100,
) -> dict[str, Any]:
    return {
        "at": at,
        "event": event,
        "reservation": rid,
        "tenant": tenant,
        "project": project,
        "vmid": vmid,
        "cores": cores,
        "memory_mb": memory_mb,
        "disk_gb": disk_gb,
    }


def test_parse_time() -> None:
    assert ur.parse_time("start", None) is None
    assert ur.parse_time("start", 12) == 12.0
    assert ur.parse_time("start", "1700000000") == 1700000000.0
    assert ur.parse_time("start", "1970-01-02") == 86400.0
    assert ur.parse_time("start", "1970-01-01T01:00:00Z") == 3600.0
    assert ur.parse_time("start", "1970-01-01T02:00:00+01:00") == 3600.0
    with pytest.raises(ValidationError, match="start: 'yesterday' is not an ISO 8601"):
        ur.parse_time("start", "yesterday")


def test_intervals_clip_pair_and_resize() -> None:
    events = [
        ev(0, "committed", "r1"),  # starts before the period
        ev(10 * H, "released", "r1"),
        ev(2 * H, "committed", "r2", cores=1),  # resized at 4h, still running at the end
        ev(4 * H, "released", "r2", cores=1),
        ev(4 * H, "committed", "r2", cores=4),
        ev(30 * H, "committed", "r3"),  # after the period
        ev(1 * H, "released", "r9"),  # release without commit: ignored
    ]
    items = ur.intervals(events, start=1 * H, end=8 * H)
    spans = [(i["reservation"], i["cores"], i["start"] / H, i["end"] / H) for i in items]
    assert spans == [("r1", 2, 1.0, 8.0), ("r2", 1, 2.0, 4.0), ("r2", 4, 4.0, 8.0)]


def test_vm_hours_by_size() -> None:
    items = ur.intervals(
        [
            ev(0, "committed", "a"),
            ev(2 * H, "released", "a"),
            ev(0, "committed", "b"),
            ev(1 * H, "released", "b"),
            ev(0, "committed", "c", cores=8, memory_mb=16384, disk_gb=100),
        ],
        0,
        3 * H,
    )
    hours = ur.vm_hours(items)["acme/web"]
    assert hours["vm_hours"] == 6.0
    assert hours["core_hours"] == 2 * 3 + 8 * 3
    assert hours["memory_gb_hours"] == 4 * 3 + 16 * 3
    assert hours["disk_gb_hours"] == 20 * 3 + 100 * 3
    assert [(s["size"], s["vms"], s["vm_hours"]) for s in hours["by_size"]] == [
        ("2c-4096m-20g", 2, 3.0),
        ("8c-16384m-100g", 1, 3.0),
    ]


TENANTS = [
    {
        "name": "acme",
        "quota": {"cores": 10, "vms": 4, "memory_mb": None},
        "used": {"cores": 4, "vms": 2},
        "reserved": {"cores": 1, "vms": 0},
        "free": {"cores": 5, "vms": 2},
        "projects": [{"name": "web", "used": {"cores": 4}}, {"name": "db", "used": {}}],
    },
    {"name": "<globex>", "quota": {}, "used": {}, "reserved": {}, "free": {}, "projects": [{"name": "<b>"}]},
]


def report() -> dict[str, Any]:
    events = [
        ev(0, "committed", "a"),
        ev(2 * H, "released", "a"),
        ev(H, "committed", "b", project="db"),
        ev(0, "committed", "old", tenant="gone", project="p"),
    ]
    return ur.build_report(TENANTS, events, 0, 4 * H)


def test_build_report() -> None:
    rep = report()
    assert rep["period"] == {"start": "1970-01-01T00:00:00Z", "end": "1970-01-01T04:00:00Z", "hours": 4.0}
    names = [t["name"] for t in rep["tenants"]]
    assert names == ["<globex>", "acme", "gone"]
    acme = rep["tenants"][1]
    assert acme["quota_used_pct"] == {"cores": 50.0, "vms": 50.0, "memory_mb": None}
    assert [(p["name"], p["vm_hours"]) for p in acme["projects"]] == [("db", 3.0), ("web", 2.0)]
    assert acme["vm_hours"] == 5.0 and acme["core_hours"] == 10.0
    assert acme["by_size"] == [
        {
            "size": "2c-4096m-20g",
            "cores": 2,
            "memory_mb": 4096,
            "disk_gb": 20,
            "vms": 2,
            "vm_hours": 5.0,
            "core_hours": 10.0,
            "memory_gb_hours": 20.0,
            "disk_gb_hours": 100.0,
        }
    ]
    gone = rep["tenants"][2]
    assert gone["removed"] is True and gone["vm_hours"] == 4.0
    assert rep["totals"]["vm_hours"] == 9.0


def test_bad_period() -> None:
    with pytest.raises(ValidationError, match="end"):
        ur.build_report([], [], 10, 5)


def test_csv() -> None:
    rows = list(csv.DictReader(io.StringIO(render.to_csv(report()))))
    assert [(r["tenant"], r["project"], r["size"], r["vm_hours"]) for r in rows] == [
        ("<globex>", "<b>", "", "0.0"),
        ("acme", "db", "2c-4096m-20g", "3.0"),
        ("acme", "web", "2c-4096m-20g", "2.0"),
        ("gone", "p", "2c-4096m-20g", "4.0"),
    ]


def test_html_is_self_contained_and_escaped() -> None:
    page = render.to_html(report())
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert "&lt;globex&gt;" in page and "<globex>" not in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "src=" not in page and "<script" not in page
    # every chart is well-formed XML
    for chunk in page.split("<svg")[1:]:
        ET.fromstring("<svg" + chunk.split("</svg>")[0] + "</svg>")
    assert "acme cores" in page and "50.0% of 10" in page
    assert "acme / db" in page and "3.00 VM-h" in page


def test_power_events_do_not_end_a_vms_time_and_a_resize_splits_it() -> None:
    events = [
        ev(0, "committed", "a"),
        dict(ev(H, "stopped", "a"), state="stopped"),
        dict(ev(2 * H, "started", "a"), state="running"),
        ev(3 * H, "resized", "a", cores=4),
        ev(4 * H, "released", "a", cores=4),
    ]
    got = [(i["start"], i["end"], i["cores"]) for i in ur.intervals(events, 0, 10 * H)]
    assert got == [(0, H, 2), (H, 2 * H, 2), (2 * H, 3 * H, 2), (3 * H, 4 * H, 4)]
