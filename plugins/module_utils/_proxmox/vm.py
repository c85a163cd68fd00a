# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM spec (proxmox_vm's options) as PVE config values, PVE's stored values in one normalised form, and
the difference between the two. Pure: no API calls, unit-tested without Ansible.

Every value is compared as normalise(key, value), a string in the form PVE stores it:
- property strings (net0, scsi0, ipconfig0, agent, memory ...): the default key first, the rest sorted,
  booleans as 0/1, sizes as 32G; a NIC without a MAC in the spec keeps the MAC PVE generated;
- sshkeys: PVE stores them URL-encoded; compared decoded, sent encoded;
- tags: lower case, de-duplicated, sorted, ';'-separated;
- booleans 0/1, numbers without trailing zeros, memory '2048' (PVE 9 stores '[current=]2048').
"""

from __future__ import annotations

import difflib
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.cpu_models import (
    CPU_MODELS,
    CUSTOM_MODEL_PREFIX,
    CUSTOM_NAME_RE,
    VM_CPU_FLAGS,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.qemu_schema import INDEXED, PROPERTIES
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.sshkeys import check_sshkeys

SIZE_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT])?(?:i?B)?\s*$", re.IGNORECASE)
DISK_KEY_RE = re.compile(r"^(ide[0-3]|sata[0-5]|scsi(?:[0-9]|[12][0-9]|30)|virtio(?:[0-9]|1[0-5])|efidisk0|tpmstate0)$")
KEY_RE = re.compile(r"^([a-z][a-z0-9_-]*?)(\d+)?$")
NAME_RE = re.compile(r"^(?=.{1,63}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")
TAG_RE = re.compile(r"^[a-z0-9_][a-z0-9_\-+.]*$")
# Keys PVE changes on a running VM at once; everything else waits for the next start (pending).
HOTPLUG_KEYS = frozenset(("name", "description", "onboot", "tags", "protection", "startup", "agent", "hookscript"))
# Keys proxmox_vm sets from its own options; `config` may not set them too.
OWN_KEYS = frozenset(
    (
        "name",
        "cores",
        "sockets",
        "memory",
        "cpu",
        "description",
        "onboot",
        "agent",
        "tags",
        "ciuser",
        "cipassword",
        "sshkeys",
        "nameserver",
        "searchdomain",
    )
)
# Keys only PVE writes.
READ_ONLY_KEYS = frozenset(
    ("digest", "lock", "meta", "vmgenid", "template", "parent", "snaptime", "runningcpu", "runningmachine")
)
MASK = "**********"
# Property strings the schema names by a format instead of spelling out: their keys, in the order PVE's tools
# write them (a bare first value stands for the first key when it is the default key).
NAMED_FORMATS: dict[str, dict[str, Any]] = {
    "pve-qm-ipconfig": {"keys": ("ip", "gw", "ip6", "gw6"), "default": None},
    "pve-vm-cpu-conf": {
        "keys": ("cputype", "flags", "guest-phys-bits", "hidden", "hv-vendor-id", "phys-bits", "reported-model"),
        "default": "cputype",
    },
}


# ------------------------------------------------------------------ sizes


def parse_size(value: Any, option: str = "size") -> int:
    """Bytes of a size: 32G, 512M, 1T, or a bare number of GiB (as PVE's STORAGE:SIZE syntax)."""
    if isinstance(value, bool):
        raise ValidationError("%s: %r is not a size (use e.g. 32G)" % (option, value))
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValidationError("%s: %r is not a size above zero" % (option, value))
        return int(value * SIZE_UNITS["G"])
    match = SIZE_RE.match(str(value))
    if not match:
        raise ValidationError("%s: %r is not a size (use a number with K, M, G or T, e.g. 32G)" % (option, value))
    size = int(float(match.group(1)) * SIZE_UNITS[(match.group(2) or "G").upper()])
    if size <= 0:
        raise ValidationError("%s: %r is not a size above zero" % (option, value))
    return size


def format_size(size: int) -> str:
    """PVE's spelling of a size in bytes: the largest unit that divides it (34359738368 -> 32G)."""
    for unit in "TGMK":
        if size and size % SIZE_UNITS[unit] == 0:
            return "%d%s" % (size // SIZE_UNITS[unit], unit)
    return str(size)


# ------------------------------------------------------- property strings


def split_props(text: Any) -> tuple[str | None, dict[str, str]]:
    """(bare first value or None, {key: value}) of a property string such as 'local:vm-1-disk-0,size=8G'."""
    first: str | None = None
    props: dict[str, str] = {}
    for n, part in enumerate(str(text).split(",")):
        key, eq, val = part.partition("=")
        if eq:
            props[key.strip()] = val.strip()
        elif part.strip() and n == 0:
            first = part.strip()
        elif part.strip():
            props[part.strip()] = ""
    return first, props


def schema_of(key: str) -> dict[str, Any] | None:
    """The compact schema entry of a config key (net3 -> net), or None for a key PVE does not know."""
    if key in PROPERTIES:
        return PROPERTIES[key]
    match = KEY_RE.match(key)
    if (
        match
        and match.group(2) is not None
        and match.group(1) in INDEXED
        and int(match.group(2)) <= INDEXED[match.group(1)]
    ):
        return PROPERTIES[match.group(1) + "[n]"]
    return None


def _bool01(value: Any) -> str | None:
    text = str(value).strip().lower()
    if isinstance(value, bool):
        return "1" if value else "0"
    if text in ("1", "true", "yes", "on"):
        return "1"
    if text in ("0", "false", "no", "off"):
        return "0"
    return None


def _number(value: Any) -> str:
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number == int(number) else repr(number)


def _scalar(kind: str, value: Any) -> str:
    if kind == "b":
        return _bool01(value) or str(value)
    if kind in ("i", "n"):
        return _number(value)
    return str(value).strip()


def _net(value: Any, keys: Mapping[str, Any]) -> str:
    """net0 as PVE writes it: model=MAC first (bare model when there is no MAC yet), the rest sorted."""
    model, mac, rest = None, None, {}
    for part in str(value).split(","):
        key, eq, val = part.partition("=")
        key = key.strip()
        if not key:
            continue
        if key in keys and keys[key].get("keyalias") == "model":
            model, mac = key, (val.strip().upper() or None)
        elif key == "model":
            model = val.strip()
        elif key == "macaddr":
            mac = val.strip().upper() or None
        else:
            sub = keys.get(key, {})
            rest[key] = _scalar(sub.get("t", "s"), val) if eq else ""
    head = [] if model is None else ["%s=%s" % (model, mac) if mac else model]
    return ",".join(head + ["%s=%s" % (k, rest[k]) for k in sorted(rest)])


def _propstring(value: Any, spec: Mapping[str, Any]) -> str:
    keys = spec["keys"]
    if any(v.get("keyalias") for v in keys.values()):
        return _net(value, keys)
    first, props = split_props(value)
    default_key = spec.get("default_key")
    if first is None and default_key in props:
        first = props.pop(default_key)
    out = {}
    for key, val in props.items():
        sub = keys.get(key, {})
        if key == "size":
            try:
                out[key] = format_size(parse_size(val))
            except ValidationError:
                out[key] = val
            continue
        out[key] = _scalar(sub.get("t", "s"), val)
    if first is not None and default_key:
        first = _scalar(keys.get(default_key, {}).get("t", "s"), first)
    head = [first] if first is not None else []
    return ",".join(head + ["%s=%s" % (k, out[k]) for k in sorted(out)])


def normalise_tags(value: Any) -> str:
    items = value if isinstance(value, (list, tuple)) else re.split(r"[;, ]+", str(value or ""))
    return ";".join(sorted({str(t).strip().lower() for t in items if str(t).strip()}))


def decode_sshkeys(value: Any) -> str:
    """The keys as text: PVE stores them URL-encoded (%20, %0A ...); one key per line, no trailing blanks."""
    text = urllib.parse.unquote(str(value or ""))
    return "\n".join(line.strip() for line in text.strip().splitlines() if line.strip())


def encode_sshkeys(text: str) -> str:
    """sshkeys as the API takes them: URL-encoded, as PVE stores them (spaces as %20, not +)."""
    return urllib.parse.quote(text, safe="")


def normalise(key: str, value: Any) -> str | None:
    """One config value in the one form proxmox_vm compares (None stays None: the key is not set)."""
    if value is None:
        return None
    if key == "tags":
        return normalise_tags(value)
    if key == "sshkeys":
        return decode_sshkeys(value)
    if key == "description":
        return str(value).rstrip()
    spec = schema_of(key)
    if spec is None:
        return str(value).strip()
    if "keys" in spec:
        return _propstring(value, spec)
    if spec.get("format") in NAMED_FORMATS:
        return _named(value, NAMED_FORMATS[spec["format"]])
    return _scalar(spec["t"], value)


def _named(value: Any, fmt: Mapping[str, Any]) -> str:
    first, props = split_props(value)
    if first is not None and fmt["default"]:
        props.setdefault(fmt["default"], first)
        first = None
    order = list(fmt["keys"])
    keys = sorted(props, key=lambda k: (order.index(k) if k in order else len(order), k))
    head = [first] if first is not None else []
    return ",".join(
        head
        + ["%s=%s" % (k, props[k]) if not (k == fmt["default"] and n == 0) else props[k] for n, k in enumerate(keys)]
    )


# ------------------------------------------------------------ validation


def check_config_value(key: str, value: Any, option: str) -> None:
    """Raise ValidationError unless PVE's schema (9.1) takes value for key: checked before anything is sent."""
    spec = schema_of(key)
    if spec is None or key in READ_ONLY_KEYS:
        raise ValidationError("%s: %r is not a QEMU config option PVE knows (see qm.conf(5))" % (option, key))
    text = str(value)
    kind = spec["t"]
    if kind == "b" and _bool01(value) is None:
        raise ValidationError("%s: %s must be a boolean, got %r" % (option, key, value))
    if kind in ("i", "n"):
        try:
            number = float(text) if kind == "n" else int(text)
        except ValueError:
            raise ValidationError(
                "%s: %s must be %s, got %r" % (option, key, "an integer" if kind == "i" else "a number", value)
            ) from None
        if "min" in spec and number < spec["min"]:
            raise ValidationError("%s: %s must be at least %s, got %r" % (option, key, spec["min"], value))
        if "max" in spec and number > spec["max"]:
            raise ValidationError("%s: %s must be at most %s, got %r" % (option, key, spec["max"], value))
    if "enum" in spec and text not in [str(e) for e in spec["enum"]]:
        raise ValidationError("%s: %s must be one of %s, got %r" % (option, key, ", ".join(spec["enum"]), value))
    if "maxlen" in spec and len(text) > spec["maxlen"]:
        raise ValidationError("%s: %s may be at most %d characters long" % (option, key, spec["maxlen"]))
    if "pattern" in spec and not re.fullmatch(spec["pattern"], text):
        raise ValidationError("%s: %s does not match PVE's pattern %s: %r" % (option, key, spec["pattern"], value))
    if "keys" in spec:
        _check_propstring(key, text, spec, option)
    elif spec.get("format") in NAMED_FORMATS:
        fmt = NAMED_FORMATS[spec["format"]]
        first, props = split_props(text)
        if first is not None and not fmt["default"]:
            raise ValidationError("%s: %s: %r is not a key=value pair" % (option, key, first))
        for sub in props:
            if sub not in fmt["keys"]:
                raise ValidationError(
                    "%s: %s: unknown property %r (known: %s)" % (option, key, sub, ", ".join(fmt["keys"]))
                )


def _check_propstring(key: str, text: str, spec: Mapping[str, Any], option: str) -> None:
    keys = spec["keys"]
    first, props = split_props(text)
    if first is not None and not spec.get("default_key") and first not in keys:
        raise ValidationError("%s: %s: %r is not a key=value pair" % (option, key, first))
    if first is not None and spec.get("default_key"):
        props = dict(props)
        props.setdefault(spec["default_key"], first)
    for sub, val in props.items():
        if sub not in keys:
            raise ValidationError(
                "%s: %s: unknown property %r (known: %s)" % (option, key, sub, ", ".join(sorted(keys)))
            )
        entry = keys[sub]
        if entry.get("keyalias"):
            continue
        if entry["t"] == "b" and _bool01(val) is None:
            raise ValidationError("%s: %s: %s must be a boolean, got %r" % (option, key, sub, val))
        if entry["t"] in ("i", "n"):
            try:
                number = float(val)
            except ValueError:
                raise ValidationError("%s: %s: %s must be a number, got %r" % (option, key, sub, val)) from None
            if "min" in entry and number < entry["min"]:
                raise ValidationError("%s: %s: %s must be at least %s, got %r" % (option, key, sub, entry["min"], val))
            if "max" in entry and number > entry["max"]:
                raise ValidationError("%s: %s: %s must be at most %s, got %r" % (option, key, sub, entry["max"], val))
        if "enum" in entry and val not in [str(e) for e in entry["enum"]]:
            raise ValidationError(
                "%s: %s: %s must be one of %s, got %r" % (option, key, sub, ", ".join(entry["enum"]), val)
            )


def check_cpu(value: Any, option: str = "cpu") -> None:
    """Raise ValidationError unless PVE takes value as a VM's cpu (qemu-server validate_vm_cpu_conf): a type of
    CPU_MODELS or custom-<name>, flags among VM_CPU_FLAGS, no reported-model."""
    first, props = split_props(value)
    cputype = props.get("cputype", first)
    if not cputype:
        raise ValidationError("%s: %r names no CPU type (e.g. x86-64-v2-AES or host)" % (option, value))
    if cputype.startswith(CUSTOM_MODEL_PREFIX):
        if not re.fullmatch(CUSTOM_NAME_RE, cputype[len(CUSTOM_MODEL_PREFIX) :]):
            raise ValidationError("%s: %r is not a custom CPU model name (custom-<name>)" % (option, cputype))
    elif cputype not in CPU_MODELS:
        close = difflib.get_close_matches(cputype, sorted(CPU_MODELS), n=3, cutoff=0.6)
        raise ValidationError(
            "%s: %r is not a CPU type PVE knows%s; the types are listed in docs/compute.md, a custom model is "
            "custom-<name>" % (option, cputype, " (did you mean %s?)" % ", ".join(close) if close else "")
        )
    for flag in [f for f in props.get("flags", "").split(";") if f]:
        if flag[:1] not in "+-" or flag[1:] not in VM_CPU_FLAGS:
            raise ValidationError(
                "%s: flag %r: a VM's cpu may only switch (+flag or -flag) %s" % (option, flag, ", ".join(VM_CPU_FLAGS))
            )
    if "reported-model" in props:
        raise ValidationError("%s: reported-model is for custom CPU models, not a VM's cpu" % option)


# ------------------------------------------------------------------ spec


def _as_text(value: Any) -> str:
    return ",".join("%s=%s" % (k, _api_value(v)) for k, v in value.items()) if isinstance(value, dict) else str(value)


def _api_value(value: Any) -> Any:
    if isinstance(value, bool):
        return 1 if value else 0
    return value


def net_value(item: Any, index: int) -> str:
    """nets[index] (a dict or a PVE string) as a net value without a MAC unless one was given."""
    option = "nets[%d]" % index
    if isinstance(item, str):
        text = item
    elif isinstance(item, dict):
        parts = dict(item)
        model = str(parts.pop("model", "virtio"))
        mac = parts.pop("macaddr", None)
        head = "%s=%s" % (model, mac) if mac else model
        text = ",".join([head] + ["%s=%s" % (k, _api_value(v)) for k, v in sorted(parts.items()) if v is not None])
    else:
        raise ValidationError("%s: must be a dict (model, bridge, tag ...) or a PVE net string" % option)
    check_config_value("net%d" % index, text, option)
    if "bridge=" not in text:
        raise ValidationError("%s: bridge is required (e.g. bridge: vmbr0)" % option)
    return normalise("net%d" % index, text) or ""


def ipconfig_value(item: Any, index: int) -> str:
    option = "ipconfig[%d]" % index
    text = _as_text(item) if isinstance(item, dict) else str(item)
    check_config_value("ipconfig%d" % index, text, option)
    return normalise("ipconfig%d" % index, text) or ""


def disk_specs(disks: list[dict[str, Any]] | None, default_storage: str | None) -> dict[str, dict[str, Any]]:
    """disks as {key: {size (bytes), storage, options {...}, index}}; keys default to scsi0, scsi1, ..."""
    out: dict[str, dict[str, Any]] = {}
    for n, disk in enumerate(disks or []):
        option = "disks[%d]" % n
        if not isinstance(disk, dict):
            raise ValidationError("%s: must be a dict with size (and key, storage, options)" % option)
        key = str(disk.get("key") or "scsi%d" % n)
        if not DISK_KEY_RE.match(key) or key in ("efidisk0", "tpmstate0"):
            raise ValidationError(
                "%s.key: %r is not a disk slot (scsi0-30, virtio0-15, sata0-5, ide0-3)" % (option, key)
            )
        if key in out:
            raise ValidationError("%s.key: %s is given twice" % (option, key))
        if disk.get("size") is None:
            raise ValidationError("%s.size: required (e.g. 32G)" % option)
        size = parse_size(disk["size"], "%s.size" % option)
        options = {str(k): _scalar("s", _api_value(v)) for k, v in (disk.get("options") or {}).items()}
        for sub in ("size", "file", "import-from"):
            if sub in options:
                raise ValidationError("%s.options: %s is set by proxmox_vm, not in options" % (option, sub))
        if options:
            text = "x," + ",".join("%s=%s" % kv for kv in sorted(options.items()))
            check_config_value(key, text, option + ".options")
        unknown = set(disk) - {"key", "size", "storage", "options"}
        if unknown:
            raise ValidationError(
                "%s: unknown keys %s (known: key, size, storage, options)" % (option, ", ".join(sorted(unknown)))
            )
        out[key] = {"size": size, "storage": disk.get("storage") or default_storage, "options": options, "index": n}
    return out


def wanted_config(params: Mapping[str, Any]) -> dict[str, str]:
    """The PVE config keys the module's options set, normalised (disks excluded: they have their own rules)."""
    want: dict[str, str] = {}
    name = params.get("name")
    if name is not None:
        if not NAME_RE.match(name):
            raise ValidationError("name: %r is not a valid VM name (a DNS name: letters, digits, '-' and '.')" % name)
        want["name"] = name
    for key in ("cores", "sockets"):
        if params.get(key) is not None:
            if int(params[key]) < 1:
                raise ValidationError("%s: must be at least 1, got %r" % (key, params[key]))
            want[key] = str(int(params[key]))
    if params.get("memory") is not None:
        memory = params["memory"]
        if isinstance(memory, str) and not memory.strip().isdigit():
            raise ValidationError("memory: %r is not a number of MiB (e.g. 2048)" % memory)
        if int(memory) < 16:
            raise ValidationError("memory: %r MiB is below PVE's minimum of 16" % memory)
        want["memory"] = str(int(memory))
    simple = {
        "cpu": "cpu",
        "description": "description",
        "ciuser": "ciuser",
        "nameserver": "nameserver",
        "searchdomain": "searchdomain",
    }
    for option, key in simple.items():
        if params.get(option) is not None:
            check_config_value(key, params[option], option)
            if key == "cpu":
                check_cpu(params[option], option)
            want[key] = normalise(key, params[option]) or ""
    if params.get("onboot") is not None:
        want["onboot"] = "1" if params["onboot"] else "0"
    agent = params.get("agent")
    if agent is not None:
        text = ("1" if agent else "0") if isinstance(agent, bool) else str(agent)
        if _bool01(text) is not None and "=" not in text:
            text = _bool01(text) or text
        check_config_value("agent", text, "agent")
        want["agent"] = normalise("agent", text) or ""
    if params.get("tags") is not None:
        tags = normalise_tags(params["tags"])
        for tag in tags.split(";") if tags else []:
            if not TAG_RE.match(tag):
                raise ValidationError("tags: %r is not a valid PVE tag (letters, digits, _ - + .)" % tag)
        want["tags"] = tags
    if params.get("sshkeys") is not None:
        keys = params["sshkeys"]
        items = keys if isinstance(keys, list) else [keys]
        for n, item in enumerate(items):
            # PVE runs ssh-keygen on each line and refuses the whole request for one bad line.
            check_sshkeys(urllib.parse.unquote(str(item)), "sshkeys[%d]" % n if isinstance(keys, list) else "sshkeys")
        want["sshkeys"] = decode_sshkeys("\n".join(items))
    for n, item in enumerate(params.get("nets") or []):
        want["net%d" % n] = net_value(item, n)
    for n, item in enumerate(params.get("ipconfig") or []):
        want["ipconfig%d" % n] = ipconfig_value(item, n)
    for key, value in sorted((params.get("config") or {}).items()):
        option = "config.%s" % key
        if key in OWN_KEYS:
            raise ValidationError("%s: set %s with the option of that name, not in config" % (option, key))
        if re.fullmatch(r"(net|ipconfig)\d+", key) and key in want:
            raise ValidationError(
                "%s: %s is already set by %s" % (option, key, "nets" if key.startswith("net") else "ipconfig")
            )
        if (
            DISK_KEY_RE.match(key)
            and "disks" in params
            and any((d or {}).get("key") == key for d in params.get("disks") or [])
        ):
            raise ValidationError("%s: %s is already set by disks" % (option, key))
        value = _api_value(value)
        check_config_value(key, value, option)
        want[key] = normalise(key, value) or ""
    return want


def api_value(key: str, value: str, have: str | None = None) -> str:
    """A normalised wanted value as it is sent: sshkeys encoded, a NIC keeping its MAC."""
    if key == "sshkeys":
        return encode_sshkeys(value)
    if re.fullmatch(r"net\d+", key) and have:
        return merge_net(have, value)
    return value


def merge_net(have: str, want: str) -> str:
    """want with have's MAC when want gives none and the model is the same (PVE's generated MAC is kept)."""
    spec = PROPERTIES["net[n]"]
    want_first = want.split(",", maxsplit=1)[0]
    if "=" in want_first:
        return want
    have_first = _net(have, spec["keys"]).split(",", maxsplit=1)[0]
    model, mac = have_first.partition("=")[::2]
    if model == want_first and mac:
        return _net("%s=%s%s" % (model, mac, want[len(want_first) :]), spec["keys"])
    return want


# ------------------------------------------------------------------ diff


def config_changes(have: Mapping[str, Any], want: Mapping[str, str]) -> dict[str, tuple[str | None, str]]:
    """{key: (have normalised, want as sent)} of every wanted key whose value differs from PVE's."""
    out: dict[str, tuple[str | None, str]] = {}
    for key, value in want.items():
        current = normalise(key, have.get(key))
        target = value
        if re.fullmatch(r"net\d+", key) and current:
            target = merge_net(current, value)
        if current != target:
            out[key] = (current, target)
    return out


def disk_changes(
    have: Mapping[str, Any], disks: Mapping[str, dict[str, Any]]
) -> tuple[dict[str, str], dict[str, tuple[str, str]], dict[str, tuple[str | None, str]]]:
    """(new disks {key: 'storage:GiB,opts'}, resizes {key: (old, new size)}, option updates {key: (old, new)}).

    A disk smaller than PVE's is a ValidationError: PVE can only grow a disk.
    """
    new: dict[str, str] = {}
    grow: dict[str, tuple[str, str]] = {}
    update: dict[str, tuple[str | None, str]] = {}
    for key, disk in disks.items():
        option = "disks[%d]" % disk["index"]
        current = have.get(key)
        if current is None:
            if not disk["storage"]:
                raise ValidationError(
                    "%s.storage: required for the new disk %s (or set the storage option)" % (option, key)
                )
            gib = disk["size"] / SIZE_UNITS["G"]
            size = ("%d" % gib) if gib == int(gib) else ("%.3f" % gib).rstrip("0")
            new[key] = ",".join(
                ["%s:%s" % (disk["storage"], size)] + ["%s=%s" % kv for kv in sorted(disk["options"].items())]
            )
            continue
        volume, props = split_props(current)
        if props.get("media") == "cdrom":
            raise ValidationError("%s.key: %s is a CD-ROM drive on this VM, not a disk" % (option, key))
        have_size = parse_size(props["size"]) if props.get("size") else 0
        if disk["size"] < have_size:
            raise ValidationError(
                "%s.size: %s of this VM is %s; shrinking a disk to %s is not possible (PVE only "
                "grows disks)" % (option, key, format_size(have_size), format_size(disk["size"]))
            )
        if disk["size"] > have_size:
            grow[key] = (format_size(have_size), format_size(disk["size"]))
        if disk["options"]:
            merged = dict(props)
            merged.update(disk["options"])
            before = normalise(key, current) or ""
            after = normalise(key, ",".join([volume or ""] + ["%s=%s" % kv for kv in sorted(merged.items())])) or ""
            if before != after:
                # The size is PVE's to keep: send the volume with the new options only.
                update[key] = (
                    before,
                    ",".join([volume or ""] + ["%s=%s" % kv for kv in sorted(merged.items()) if kv[0] != "size"]),
                )
    return new, grow, update


def needs_restart(key: str) -> bool:
    """Whether PVE applies a change of key to a running VM only at its next start (pending), with PVE's default
    `hotplug` (network, disk, usb): a guess for check mode; a real run reports what PVE keeps pending."""
    return key not in HOTPLUG_KEYS and not re.fullmatch(r"net\d+", key) and not DISK_KEY_RE.match(key)


def shown(key: str, value: str | None) -> str | None:
    """A value as the diff shows it: the password never."""
    if key == "cipassword" and value is not None:
        return MASK
    return value


def config_from_pending(entries: list[Mapping[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(current config, pending changes) from GET .../pending: pending values are the key's new value, None for a
    pending delete."""
    config: dict[str, Any] = {}
    pending: dict[str, Any] = {}
    for entry in entries or []:
        key = entry.get("key")
        if key is None:
            continue
        if "value" in entry:
            config[key] = entry["value"]
        if entry.get("delete"):
            pending[key] = None
        elif "pending" in entry:
            pending[key] = entry["pending"]
    return config, pending


def effective(config: Mapping[str, Any], pending: Mapping[str, Any]) -> dict[str, Any]:
    """The config as it will be after the next start: the pending values applied."""
    out = dict(config)
    for key, value in pending.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def public_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as proxmox_vm returns it: sshkeys decoded, the password masked, the digest dropped."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key == "digest":
            continue
        if key == "sshkeys":
            value = decode_sshkeys(value)
        elif key == "cipassword":
            value = MASK
        out[key] = value
    return out


def disks_on(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, storage id) of each disk of the config (CD-ROMs and the cloud-init drive included)."""
    out = []
    for key, value in config.items():
        if DISK_KEY_RE.match(key) or re.fullmatch(r"unused\d+", key):
            volume, _props = split_props(value)
            if volume and ":" in volume:
                out.append((key, volume.split(":", 1)[0]))
    return out


def has_cloudinit(config: Mapping[str, Any]) -> bool:
    return any(DISK_KEY_RE.match(k) and "cloudinit" in str(v).split(",", maxsplit=1)[0] for k, v in config.items())
