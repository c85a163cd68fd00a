# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CPU types PVE takes for a VM's `cpu` (format pve-vm-cpu-conf), as data.

PVE's API schema does not spell these out (`cpu` is a string of format `pve-vm-cpu-conf`); qemu-server does, in
src/PVE/QemuServer/CPUConfig.pm (commit 0538c83c41603b50096ab418be166d1f86b6bd35): the keys of
`$cpu_vendor_list` and of `$builtin_models`, plus custom models `custom-<name>` from
/etc/pve/virtual-guest/cpu-models.conf. Its validate_vm_cpu_conf refuses any other type ("Built-in cputype 'x'
is not defined (missing 'custom-' prefix?)"), `flags` outside `$supported_cpu_flags` and `reported-model` in a
VM's config. docs/compute.md names the source; update both together.
"""

from __future__ import annotations

# $cpu_vendor_list (Intel, AMD, then the generic types) and $builtin_models (x86-64-v*).
CPU_MODELS = frozenset(
    (
        "486",
        "pentium",
        "pentium2",
        "pentium3",
        "coreduo",
        "core2duo",
        "Conroe",
        "Penryn",
        "Nehalem",
        "Nehalem-IBRS",
        "Westmere",
        "Westmere-IBRS",
        "SandyBridge",
        "SandyBridge-IBRS",
        "IvyBridge",
        "IvyBridge-IBRS",
        "Haswell",
        "Haswell-IBRS",
        "Haswell-noTSX",
        "Haswell-noTSX-IBRS",
        "Broadwell",
        "Broadwell-IBRS",
        "Broadwell-noTSX",
        "Broadwell-noTSX-IBRS",
        "Skylake-Client",
        "Skylake-Client-IBRS",
        "Skylake-Client-noTSX-IBRS",
        "Skylake-Client-v4",
        "Skylake-Server",
        "Skylake-Server-IBRS",
        "Skylake-Server-noTSX-IBRS",
        "Skylake-Server-v4",
        "Skylake-Server-v5",
        "Cascadelake-Server",
        "Cascadelake-Server-v2",
        "Cascadelake-Server-noTSX",
        "Cascadelake-Server-v4",
        "Cascadelake-Server-v5",
        "Cooperlake",
        "Cooperlake-v2",
        "KnightsMill",
        "Icelake-Client",
        "Icelake-Client-noTSX",
        "Icelake-Server",
        "Icelake-Server-noTSX",
        "Icelake-Server-v3",
        "Icelake-Server-v4",
        "Icelake-Server-v5",
        "Icelake-Server-v6",
        "Icelake-Server-v7",
        "SapphireRapids",
        "SapphireRapids-v2",
        "SapphireRapids-v3",
        "SapphireRapids-v4",
        "GraniteRapids",
        "GraniteRapids-v2",
        "GraniteRapids-v3",
        "SierraForest",
        "SierraForest-v2",
        "SierraForest-v3",
        "ClearwaterForest",
        "athlon",
        "phenom",
        "Opteron_G1",
        "Opteron_G2",
        "Opteron_G3",
        "Opteron_G4",
        "Opteron_G5",
        "EPYC",
        "EPYC-IBPB",
        "EPYC-v3",
        "EPYC-v4",
        "EPYC-v5",
        "EPYC-Rome",
        "EPYC-Rome-v2",
        "EPYC-Rome-v3",
        "EPYC-Rome-v4",
        "EPYC-Rome-v5",
        "EPYC-Milan",
        "EPYC-Milan-v2",
        "EPYC-Milan-v3",
        "EPYC-Genoa",
        "EPYC-Genoa-v2",
        "EPYC-Turin",
        "host",
        "kvm32",
        "kvm64",
        "qemu32",
        "qemu64",
        "max",
        "x86-64-v2",
        "x86-64-v2-AES",
        "x86-64-v3",
        "x86-64-v4",
    )
)

# $supported_cpu_flags, in PVE's order: the only flags a VM's own `cpu` may switch (+flag / -flag).
VM_CPU_FLAGS = (
    "nested-virt",
    "md-clear",
    "pcid",
    "spec-ctrl",
    "ssbd",
    "ibpb",
    "virt-ssbd",
    "amd-ssbd",
    "amd-no-ssb",
    "pdpe1gb",
    "hv-tlbflush",
    "hv-evmcs",
    "aes",
)

# A custom model's name: PVE's section config id (pve-configid).
CUSTOM_MODEL_PREFIX = "custom-"
CUSTOM_NAME_RE = r"[a-zA-Z][a-zA-Z0-9_\-]*"
