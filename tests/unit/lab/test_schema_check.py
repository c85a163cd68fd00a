"""The PVE API schemas the request check uses are part of the repository (tests/lab/pve/schemas)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lab", "pve")
)

import schema_check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_schemas_are_read_from_the_repository():
    for version in schema_check.VERSIONS:
        path = os.path.realpath(schema_check.schema_path(version))
        assert path.startswith(os.path.realpath(ROOT) + os.sep), path
        assert os.path.exists(path), path
        assert schema_check.document(version)["meta"]["pve_version"].startswith(version)


def test_request_check_works_with_nothing_beside_the_checkout(tmp_path):
    """A copy of the request check and its schemas, alone in an empty directory, checks requests with both schemas."""
    pve = tmp_path / "clone" / "tests" / "lab" / "pve"
    pve.mkdir(parents=True)
    here = os.path.dirname(schema_check.__file__)
    shutil.copy(os.path.join(here, "schema_check.py"), pve)
    shutil.copytree(os.path.join(here, "schemas"), pve / "schemas")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRONCLOUD")}
    env["HOME"] = str(tmp_path)
    code = (
        "import schema_check\n"
        "print(schema_check.check([\n"
        "    {'method': 'GET', 'path': '/version', 'params': {}},\n"
        "    {'method': 'POST', 'path': '/nodes/pve1/qemu/100/status/start', 'params': {'bogus': '1'}},\n"
        "]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=pve, env=env, capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "PVE 8.4: POST /nodes/pve1/qemu/100/status/start: bogus" in out.stdout
    assert "PVE 9.1: POST /nodes/pve1/qemu/100/status/start: bogus" in out.stdout
    assert "/version" not in out.stdout
