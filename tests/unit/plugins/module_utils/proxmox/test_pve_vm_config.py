"""vm.py: spec -> PVE values, normalisation of PVE's stored forms, the diff, and the checks made before sending."""

from __future__ import annotations

import urllib.parse

import pytest
import ssh_keys

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox import vm


@pytest.mark.parametrize(
    "given,expected",
    [
        ("32G", 32 * 1024**3),
        ("512M", 512 * 1024**2),
        ("1T", 1024**4),
        (8, 8 * 1024**3),
        ("8", 8 * 1024**3),
        ("6144M", 6 * 1024**3),
        ("1.5G", 3 * 1024**3 // 2),
        ("4GiB", 4 * 1024**3),
    ],
)
def test_parse_size(given, expected):
    assert vm.parse_size(given) == expected


@pytest.mark.parametrize("given", ["12X", "", "-1G", "0", True, "G"])
def test_parse_size_refuses(given):
    with pytest.raises(ValidationError, match="^disks\\[0\\].size: "):
        vm.parse_size(given, "disks[0].size")


def test_format_size():
    assert vm.format_size(32 * 1024**3) == "32G"
    assert vm.format_size(1536 * 1024**2) == "1536M"
    assert vm.format_size(1024**4) == "1T"


def test_net_keeps_pve_form_and_mac():
    stored = "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1,tag=10"
    want = vm.net_value({"bridge": "vmbr0", "tag": 10, "firewall": True}, 0)
    assert want == "virtio,bridge=vmbr0,firewall=1,tag=10"
    assert vm.config_changes({"net0": stored}, {"net0": want}) == {}
    assert vm.api_value("net0", want, stored) == stored


def test_net_change_keeps_mac():
    stored = "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,tag=10"
    want = vm.net_value({"bridge": "vmbr0", "tag": 20}, 0)
    changes = vm.config_changes({"net0": stored}, {"net0": want})
    assert changes == {"net0": (stored, "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,tag=20")}


def test_net_model_change_gets_new_mac_and_explicit_mac_wins():
    stored = "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0"
    assert vm.config_changes({"net0": stored}, {"net0": vm.net_value({"model": "e1000", "bridge": "vmbr0"}, 0)}) == {
        "net0": (stored, "e1000,bridge=vmbr0")
    }
    explicit = vm.net_value({"bridge": "vmbr0", "macaddr": "bc:24:11:00:00:01"}, 0)
    assert explicit == "virtio=BC:24:11:00:00:01,bridge=vmbr0"


def test_net_string_in_any_key_order_is_the_same():
    assert (
        vm.normalise("net1", "bridge=vmbr1,model=virtio,tag=5,macaddr=bc:24:11:00:00:02")
        == "virtio=BC:24:11:00:00:02,bridge=vmbr1,tag=5"
    )


def test_net_needs_bridge_and_known_keys():
    with pytest.raises(ValidationError, match="^nets\\[0\\]: bridge is required"):
        vm.net_value({"tag": 5}, 0)
    with pytest.raises(ValidationError, match="nets\\[1\\]: net1: unknown property 'vlan'"):
        vm.net_value({"bridge": "vmbr0", "vlan": 5}, 1)
    with pytest.raises(ValidationError, match="nets\\[0\\]: net0: tag must be at most 4094"):
        vm.net_value({"bridge": "vmbr0", "tag": 5000}, 0)


def test_sshkeys_compare_decoded_and_are_sent_encoded():
    keys = "%s\n%s" % (ssh_keys.ED25519, ssh_keys.RSA)
    stored = urllib.parse.quote(keys, safe="")
    assert stored.startswith("ssh-ed25519%20AAAA") and "%20admin%40example.com%0Assh-rsa%20" in stored
    assert stored.endswith("%20ops%2Bx%40example.com")
    want = vm.wanted_config({"sshkeys": keys.split("\n")})
    assert want == {"sshkeys": keys}
    assert vm.config_changes({"sshkeys": stored}, want) == {}
    assert vm.api_value("sshkeys", keys) == stored
    assert vm.public_config({"sshkeys": stored, "cipassword": "$5$x", "digest": "d"}) == {
        "sshkeys": keys,
        "cipassword": "**********",
    }


def test_memory_as_pve9_property_string_and_numbers_as_strings():
    assert (
        vm.config_changes(
            {"memory": "current=2048", "cores": 2, "onboot": 1, "balloon": 0},
            vm.wanted_config({"memory": 2048, "cores": 2, "onboot": True, "config": {"balloon": 0}}),
        )
        == {}
    )
    assert vm.config_changes({"memory": "2048"}, {"memory": "4096"}) == {"memory": ("2048", "4096")}


def test_tags_lower_case_sorted_unique():
    want = vm.wanted_config({"tags": ["ic-tenant-acme", "IC-Project-Web", "ic-tenant-acme"]})
    assert want == {"tags": "ic-project-web;ic-tenant-acme"}
    assert vm.config_changes({"tags": "ic-tenant-acme,ic-project-web"}, want) == {}
    with pytest.raises(ValidationError, match="^tags: "):
        vm.wanted_config({"tags": ["has space!"]})


def test_booleans_any_spelling():
    assert vm.normalise("numa", "true") == "1"
    assert vm.normalise("numa", False) == "0"
    assert vm.normalise("agent", "enabled=1,fstrim_cloned_disks=true") == "1,fstrim_cloned_disks=1"
    assert vm.wanted_config({"agent": True}) == {"agent": "1"}
    assert vm.config_changes({"agent": "enabled=1"}, vm.wanted_config({"agent": True})) == {}


def test_ipconfig_dict_or_string():
    want = vm.wanted_config({"ipconfig": [{"ip": "10.0.0.5/24", "gw": "10.0.0.1"}, "ip=dhcp"]})
    assert want == {"ipconfig0": "ip=10.0.0.5/24,gw=10.0.0.1", "ipconfig1": "ip=dhcp"}
    assert vm.config_changes({"ipconfig0": "gw=10.0.0.1,ip=10.0.0.5/24", "ipconfig1": "ip=dhcp"}, want) == {}
    assert vm.normalise("cpu", "flags=+aes,cputype=host") == "host,flags=+aes"
    assert vm.normalise("cpu", "host") == "host"


def test_description_trailing_newline_ignored():
    assert vm.config_changes({"description": "web server\n"}, vm.wanted_config({"description": "web server"})) == {}


@pytest.mark.parametrize(
    "params,message",
    [
        ({"config": {"no_such": 1}}, "^config.no_such: 'no_such' is not a QEMU config option"),
        ({"config": {"scsihw": "fast"}}, "^config.scsihw: scsihw must be one of lsi, "),
        ({"config": {"balloon": -1}}, "^config.balloon: balloon must be at least 0"),
        ({"config": {"numa": "maybe"}}, "^config.numa: numa must be a boolean"),
        ({"config": {"cores": 2}}, "^config.cores: set cores with the option of that name"),
        ({"config": {"net40": "virtio,bridge=vmbr0"}}, "^config.net40: 'net40' is not a QEMU config option"),
        ({"config": {"digest": "x"}}, "^config.digest: "),
        ({"memory": 8}, "^memory: 8 MiB is below"),
        ({"cores": 0}, "^cores: must be at least 1"),
        ({"name": "bad_name!"}, "^name: 'bad_name!' is not a valid VM name"),
        ({"cpu": "host,flags=+aes,bogus=1"}, "^cpu: cpu: unknown property 'bogus'"),
        ({"agent": "enabled=1,type=usb"}, "^agent: agent: type must be one of virtio, isa"),
    ],
)
def test_bad_input_names_the_option(params, message):
    with pytest.raises(ValidationError, match=message):
        vm.wanted_config(params)


def test_config_passes_schema_values():
    want = vm.wanted_config(
        {
            "config": {
                "scsihw": "virtio-scsi-single",
                "balloon": 0,
                "numa": True,
                "serial0": "socket",
                "cpulimit": "1.50",
            }
        }
    )
    assert want == {"balloon": "0", "cpulimit": "1.5", "numa": "1", "scsihw": "virtio-scsi-single", "serial0": "socket"}


def test_disks_new_grow_update_and_shrink():
    disks = vm.disk_specs(
        [
            {"key": "scsi0", "size": "8G"},
            {"size": "2G", "storage": "local-lvm", "options": {"discard": "on", "ssd": True}},
        ],
        "vmstore",
    )
    have = {"scsi0": "vmstore:9000/base-9000-disk-0.raw/101/vm-101-disk-0.raw,size=4G"}
    new, grow, update = vm.disk_changes(have, disks)
    assert new == {"scsi1": "local-lvm:2,discard=on,ssd=1"}
    assert grow == {"scsi0": ("4G", "8G")}
    assert update == {}
    have["scsi1"] = "local-lvm:vm-101-disk-1,discard=on,size=2G,ssd=1"
    have["scsi0"] = have["scsi0"].replace("4G", "8G")
    assert vm.disk_changes(have, disks) == ({}, {}, {})
    shrink = vm.disk_specs([{"key": "scsi0", "size": "2G"}], None)
    with pytest.raises(ValidationError, match=r"^disks\[0\].size: scsi0 of this VM is 8G; shrinking"):
        vm.disk_changes(have, shrink)


def test_disk_option_change_keeps_volume_without_size():
    disks = vm.disk_specs([{"key": "scsi0", "size": "2G", "options": {"discard": "on"}}], None)
    new, grow, update = vm.disk_changes({"scsi0": "local-lvm:vm-1-disk-0,size=2G"}, disks)
    assert (new, grow) == ({}, {})
    assert update == {"scsi0": ("local-lvm:vm-1-disk-0,size=2G", "local-lvm:vm-1-disk-0,discard=on")}


@pytest.mark.parametrize(
    "disks,message",
    [
        ([{"key": "scsi99", "size": "1G"}], r"^disks\[0\].key: 'scsi99' is not a disk slot"),
        ([{"key": "scsi0", "size": "1G"}, {"key": "scsi0", "size": "2G"}], r"^disks\[1\].key: scsi0 is given twice"),
        ([{"size": "1G", "options": {"cache": "fast"}}], r"^disks\[0\].options: scsi0: cache must be one of"),
        ([{"size": "1G", "options": {"size": "2G"}}], r"^disks\[0\].options: size is set by proxmox_vm"),
        ([{"size": "1G", "bogus": 1}], r"^disks\[0\]: unknown keys bogus"),
    ],
)
def test_bad_disks(disks, message):
    with pytest.raises(ValidationError, match=message):
        vm.disk_specs(disks, None)


def test_new_disk_needs_storage():
    with pytest.raises(ValidationError, match=r"^disks\[0\].storage: required"):
        vm.disk_changes({}, vm.disk_specs([{"size": "1G"}], None))


def test_cdrom_slot_is_not_a_disk():
    with pytest.raises(ValidationError, match="is a CD-ROM drive"):
        vm.disk_changes(
            {"ide2": "vmstore:vm-1-cloudinit,media=cdrom"}, vm.disk_specs([{"key": "ide2", "size": 1}], None)
        )


def test_pending_entries():
    entries = [
        {"key": "memory", "value": "2048", "pending": "4096"},
        {"key": "cores", "value": 2},
        {"key": "balloon", "value": 0, "delete": 1},
        {"key": "numa", "pending": 1},
    ]
    config, pending = vm.config_from_pending(entries)
    assert config == {"memory": "2048", "cores": 2, "balloon": 0}
    assert pending == {"memory": "4096", "balloon": None, "numa": 1}
    assert vm.effective(config, pending) == {"memory": "4096", "cores": 2, "numa": 1}


def test_needs_restart_follows_pve_default_hotplug():
    assert vm.needs_restart("memory") and vm.needs_restart("cores") and vm.needs_restart("ciuser")
    assert not vm.needs_restart("tags") and not vm.needs_restart("net0") and not vm.needs_restart("scsi1")


def test_disks_on_and_cloudinit():
    config = {
        "scsi0": "local-lvm:vm-1-disk-0,size=2G",
        "ide2": "vmstore:vm-1-cloudinit,media=cdrom",
        "ide0": "none,media=cdrom",
        "unused0": "local-lvm:vm-1-disk-9",
    }
    assert sorted(vm.disks_on(config)) == [("ide2", "vmstore"), ("scsi0", "local-lvm"), ("unused0", "local-lvm")]
    assert vm.has_cloudinit(config) and vm.has_cloudinit({"ide2": "local-lvm:cloudinit"})
    assert not vm.has_cloudinit({"scsi0": "local-lvm:1"})
