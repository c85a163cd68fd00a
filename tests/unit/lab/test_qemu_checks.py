"""The lab's PVE refuses a cpu and sshkeys as PVE does (tests/lab/pve/qemu_checks.py), in-process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.parse

import pytest
from aiohttp.test_utils import make_mocked_request

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lab", "pve")
)

import qemu_checks
from fakepve.model import PveError
from labpve import LabPve

CONFIG = {"nodes": {"pve1": {"cores": 4, "memory_mb": 8192}, "pve2": {"cores": 4, "memory_mb": 8192}}}


@pytest.fixture(scope="module")
def public_key(tmp_path_factory):
    path = tmp_path_factory.mktemp("keys") / "k"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab@example.com", "-f", str(path)], check=True
    )
    return path.with_suffix(".pub").read_text().strip()


def lab() -> LabPve:
    return LabPve(CONFIG, password="pw", host="127.0.0.1", port=0)


def put_config(pve: LabPve, vmid: int, values: dict) -> dict:
    request = make_mocked_request(
        "PUT", "/api2/json/nodes/pve1/qemu/%d/config" % vmid, match_info={"node": "pve1", "vmid": str(vmid)}
    )
    return pve._verify(request, values)


@pytest.mark.parametrize(
    "cpu,reason",
    [
        ("Skylake", "invalid format - Built-in cputype 'Skylake' is not defined (missing 'custom-' prefix?)"),
        ("custom-fast", "invalid format - Custom cputype 'custom-fast' not found"),
        ("host,flags=+avx2", "invalid format - VM-specific CPU flags must be a subset of: nested-virt, md-clear"),
        ("kvm64,reported-model=EPYC", "invalid format - Property 'reported-model' not allowed"),
    ],
)
def test_cpu_refused_as_pve_does(cpu, reason):
    pve = lab()
    with pytest.raises(PveError) as caught:
        put_config(pve, 9000, {"cpu": cpu})
    assert caught.value.status == 400
    assert caught.value.message == "Parameter verification failed."
    assert caught.value.errors["cpu"].startswith(reason)
    with pytest.raises(PveError) as caught:
        asyncio.run(pve._qm_create({"node": "pve1", "vmid": 120, "cpu": cpu}, "root@pam"))
    assert caught.value.status == 400 and pve.vm(120) is None


def test_known_cpu_and_real_keys_pass(public_key):
    pve = lab()
    values = put_config(
        pve, 9000, {"cpu": "x86-64-v2-AES,flags=+aes", "sshkeys": urllib.parse.quote(public_key, safe="")}
    )
    assert values["cpu"] == "x86-64-v2-AES,flags=+aes"
    assert qemu_checks.sshkeys_valid("%s\n\n%s" % (public_key, public_key))


@pytest.mark.parametrize(
    "keys",
    ["ssh-ed25519 AAAAC3Nza a@b", "# a comment", "not a key", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIC3SotvwS+5q"],
)
def test_sshkeys_refused_as_pve_does(keys, public_key):
    pve = lab()
    for text in (keys, "%s\n%s" % (public_key, keys)):
        with pytest.raises(PveError) as caught:
            put_config(pve, 9000, {"sshkeys": urllib.parse.quote(text, safe="")})
        assert (caught.value.status, caught.value.message) == (500, "SSH public key validation error")
    with pytest.raises(PveError):
        asyncio.run(
            pve._qm_create({"node": "pve1", "vmid": 121, "sshkeys": urllib.parse.quote(keys, safe="")}, "root@pam")
        )
    assert pve.vm(121) is None


def test_template_is_in_the_shared_templates_pool():
    pve = lab()
    assert 9000 in pve.pools["ironcloud-templates"]
