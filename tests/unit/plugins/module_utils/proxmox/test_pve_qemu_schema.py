"""The shipped QEMU schema table is what the generator makes from the repository's PVE 9.1 schema."""

from __future__ import annotations

import gen_qemu_schema

from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox import qemu_schema


def test_table_is_generated_from_the_schema():
    table, indexed = gen_qemu_schema.build()
    assert table == qemu_schema.PROPERTIES, "regenerate: see gen_qemu_schema.py"
    assert indexed == qemu_schema.INDEXED


def test_table_has_what_proxmox_vm_relies_on():
    props = qemu_schema.PROPERTIES
    assert props["cores"]["t"] == "i" and props["cores"]["min"] == 1
    assert props["memory"]["default_key"] == "current"
    assert props["sshkeys"]["format"] == "urlencoded"
    assert "tag" in props["net[n]"]["keys"] and props["numa"]["t"] == "b"
    assert qemu_schema.INDEXED["net"] == 31 and qemu_schema.INDEXED["scsi"] == 30
