"""What PVE refuses in proxmox_vm's cpu and sshkeys, refused before any change (defect: both were sent as given)."""

from __future__ import annotations

import base64
import struct

import pytest
import ssh_keys
from pve_stub import StubApi, client

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox import vm
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.cpu_models import CPU_MODELS
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.sshkeys import check_sshkeys
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.vms import VmManager


def blob(*fields: bytes) -> str:
    return base64.b64encode(b"".join(struct.pack(">I", len(f)) + f for f in fields)).decode()


@pytest.mark.parametrize(
    "cpu",
    ["host", "x86-64-v2-AES", "kvm64", "EPYC-Genoa", "Skylake-Server-v5", "cputype=max,flags=+aes;-pcid", "custom-a1"],
)
def test_cpu_types_pve_knows(cpu):
    assert vm.wanted_config({"cpu": cpu})["cpu"]


@pytest.mark.parametrize(
    "cpu,message",
    [
        ("Skylake", "cpu: 'Skylake' is not a CPU type PVE knows (did you mean Skylake-"),
        ("pentium4", "cpu: 'pentium4' is not a CPU type PVE knows"),
        ("HOST", "cpu: 'HOST' is not a CPU type PVE knows"),
        ("host,flags=+avx2", "cpu: flag '+avx2': a VM's cpu may only switch (+flag or -flag) nested-virt, md-clear"),
        ("host,flags=aes", "cpu: flag 'aes': a VM's cpu may only switch"),
        ("custom-", "cpu: 'custom-' is not a custom CPU model name"),
        ("flags=+aes", "cpu: 'flags=+aes' names no CPU type"),
        ("host,reported-model=EPYC", "cpu: reported-model is for custom CPU models"),
    ],
)
def test_cpu_types_pve_refuses(cpu, message):
    with pytest.raises(ValidationError) as caught:
        vm.wanted_config({"cpu": cpu})
    assert caught.value.message.startswith(message)


def test_cpu_table_has_pve_builtin_and_generic_models():
    assert {"host", "kvm64", "qemu64", "max", "x86-64-v2-AES", "x86-64-v4", "EPYC-Turin", "486"} <= CPU_MODELS
    assert len(CPU_MODELS) == 94


@pytest.mark.parametrize(
    "keys",
    [
        ssh_keys.ED25519,
        ssh_keys.RSA,
        ssh_keys.ECDSA384,
        ssh_keys.RSA_1024,
        "%s\n\n  \n%s" % (ssh_keys.ED25519, ssh_keys.RSA),
        'from="10.0.0.0/8" ' + ssh_keys.ED25519,  # one word of authorized_keys options, as ssh-keygen takes
        ssh_keys.ED25519.rsplit(" ", 1)[0],  # no comment
        "sk-ssh-ed25519@openssh.com %s" % blob(b"sk-ssh-ed25519@openssh.com", b"k" * 32, b"ssh:"),
        "sk-ecdsa-sha2-nistp256@openssh.com %s"
        % blob(b"sk-ecdsa-sha2-nistp256@openssh.com", b"nistp256", b"\x04" + b"p" * 64, b"ssh:"),
    ],
)
def test_public_keys_pass(keys):
    check_sshkeys(keys)


ED_TYPE, ED_DATA = ssh_keys.ED25519.split()[:2]


@pytest.mark.parametrize(
    "keys,message",
    [
        ("AAAAC3NzaC1lZDI1NTE5 admin", "sshkeys: 'AAAAC3NzaC1lZDI1NTE5 admin' is not an OpenSSH public key"),
        ("# the ops key", "sshkeys: '# the ops key' is not an OpenSSH public key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "is not an OpenSSH public key"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "sshkeys: 'ssh-dss AAAAB3NzaC1kc3MAAACBAP' is not an OpenSSH public key"),
        ("ssh-ed25519", "sshkeys: the ssh-ed25519 key has no key data after its type"),
        ("ssh-ed25519 AAAA!!", "sshkeys: the ssh-ed25519 key's data is not base64"),
        ("ssh-ed25519 AAAAC3Nza a@b", "sshkeys: the ssh-ed25519 key's data is not base64"),
        ("ssh-ed25519 " + ED_DATA[:40], "sshkeys: not a valid ssh-ed25519 public key: the key data ends early"),
        (
            "ssh-rsa " + ED_DATA,
            "sshkeys: not a valid ssh-rsa public key: the key data is a ssh-ed25519 key, not ssh-rsa",
        ),
        ("ssh-ed25519 " + blob(b"ssh-ed25519", b"k" * 31), "sshkeys: not a valid ssh-ed25519 public key: an Ed25519"),
        ("ssh-ed25519 " + blob(b"ssh-ed25519", b"k" * 32, b"x"), "the key data has 5 bytes too many"),
        ("ssh-rsa " + blob(b"ssh-rsa", b"\x01\x00\x01", b"\x7f" * 64), "an RSA key of 511 bits (OpenSSH takes 1024"),
        (
            "ecdsa-sha2-nistp256 " + blob(b"ecdsa-sha2-nistp256", b"nistp384", b"\x04" + b"p" * 64),
            "sshkeys: not a valid ecdsa-sha2-nistp256 public key: the key data is not on curve nistp256",
        ),
        (
            "%s\n%s %s" % (ssh_keys.ED25519, ED_TYPE, ED_DATA[:-8]),
            "sshkeys line 2: not a valid ssh-ed25519 public key",
        ),
    ],
)
def test_what_pve_refuses(keys, message):
    with pytest.raises(ValidationError) as caught:
        check_sshkeys(keys)
    assert message in caught.value.message


def test_sshkeys_option_names_the_list_item():
    with pytest.raises(ValidationError) as caught:
        vm.wanted_config({"sshkeys": [ssh_keys.ED25519, "ssh-ed25519 AAAAC3Nza ops"]})
    assert caught.value.message.startswith("sshkeys[1]: the ssh-ed25519 key's data is not base64")
    # Given URL-encoded, as PVE stores them, they are checked decoded.
    assert vm.wanted_config({"sshkeys": ssh_keys.ED25519.replace(" ", "%20")})["sshkeys"] == ssh_keys.ED25519


@pytest.mark.parametrize("params", [{"cpu": "Skylake"}, {"sshkeys": "ssh-ed25519 AAAAC3Nza a@b"}])
def test_refused_before_any_request(params):
    api = StubApi()  # answers nothing: any request fails the test
    with pytest.raises(ValidationError):
        VmManager(client(api), dict(params, name="web-1", node="pve1")).ensure()
    assert api.calls == []
