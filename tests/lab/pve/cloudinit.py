"""A VM's cloud-init settings as the NoCloud seed PVE writes for them (lab only; nothing of it ships).

A port of PVE's own generator, PVE/QemuServer/Cloudinit.pm in proxmox/qemu-server (`generate_nocloud`:
`cloudinit_userdata`, `nocloud_network`, `nocloud_gen_metadata`, `get_hostname_fqdn`, `get_dns_conf`), line for
line, so a guest of the lab gets the files a real PVE guest gets: the same keys, order, quoting and indentation,
and the same instance-id (SHA-1 of user-data + network-config). tests/unit/lab/test_cloudinit.py holds the
expected files for sample configs; tests/lab/README.md ("The guests' cloud-init seed") lists what differs.

Pure functions of the VM config, except `stored_password` (PVE's API stores `cipassword` hashed, as
`PVE::Tools::encrypt_pw` does; the lab's API stores what it was given, so the seed writer hashes it first).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import subprocess
import urllib.parse
from collections.abc import Mapping
from typing import Any

# PVE's API leaves a cipassword that is already a crypt hash as it is (update_vm_api).
HASHED = re.compile(r"^\$(?:[156]|2[ay])(\$.+){2}")
NET_MODELS = (
    "virtio",
    "e1000",
    "e1000e",
    "rtl8139",
    "vmxnet3",
    "i82551",
    "i82557b",
    "i82559er",
    "ne2k_isa",
    "ne2k_pci",
    "pcnet",
)


def props(value: Any) -> dict[str, str]:
    """A PVE property string (`virtio=AA:..,bridge=br-int,tag=5`) as a dict; a bare word maps to ""."""
    out: dict[str, str] = {}
    for part in str(value or "").split(","):
        key, eq, val = part.partition("=")
        if eq:
            out[key.strip()] = val.strip()
        elif key.strip():
            out[key.strip()] = ""
    return out


def net_mac(net: Mapping[str, str]) -> str | None:
    """parse_net's macaddr: the value of the model key (`virtio=BC:24:11:..`), or macaddr= when given."""
    if net.get("macaddr"):
        return net["macaddr"]
    return next((net[k] for k in NET_MODELS if net.get(k)), None)


def _perl_split_ws(value: str) -> list[str]:
    """Perl's split(/\\s+/, $s): a leading empty field is kept, trailing empty fields are dropped."""
    fields = re.split(r"\s+", value)
    while fields and fields[-1] == "":
        fields.pop()
    return fields


def hostname_fqdn(config: Mapping[str, Any], vmid: int) -> tuple[str, str]:
    """get_hostname_fqdn: the VM name (VM<vmid> without one); a dotted name is the FQDN itself."""
    hostname = str(config["name"]) if config.get("name") is not None else "VM%d" % vmid
    if "." in hostname:
        return hostname.split(".", 1)[0], hostname
    if config.get("searchdomain"):
        return hostname, "%s.%s" % (hostname, config["searchdomain"])
    return hostname, hostname


def dns_conf(config: Mapping[str, Any], host_search: str | None = None, host_dns: tuple[str, ...] = ()):
    """get_dns_conf: the VM's searchdomain and nameserver, else the node's resolv.conf (host_search, host_dns)."""
    search = config.get("searchdomain")
    if search is None:
        search = host_search
    searchdomains = _perl_split_ws(str(search or ""))
    if config.get("nameserver") is None:
        nameservers = [ns for ns in host_dns if ns]
    else:
        nameservers = _perl_split_ws(str(config["nameserver"]))
    return searchdomains, nameservers


def user_data(config: Mapping[str, Any], vmid: int) -> str:
    """cloudinit_userdata (unmasked): #cloud-config with hostname, user, password, keys, chpasswd, upgrade."""
    hostname, fqdn = hostname_fqdn(config, vmid)
    out = "#cloud-config\n"
    out += "hostname: %s\n" % hostname
    out += "manage_etc_hosts: true\n"
    out += "fqdn: %s\n" % fqdn
    username = config.get("ciuser")
    password = config.get("cipassword")
    if username is not None:
        out += "user: %s\n" % username
    if username is not None and username == "root":
        out += "disable_root: False\n"
    if password is not None:
        out += "password: %s\n" % password
    if config.get("sshkeys") is not None:
        keys = urllib.parse.unquote(str(config["sshkeys"])).split("\n")
        out += "ssh_authorized_keys:\n"
        for key in keys:
            if re.search(r"\S", key):
                out += "  - %s\n" % key
    out += "chpasswd:\n"
    out += "  expire: False\n"
    if username is None or username != "root":
        out += "users:\n"
        out += "  - default\n"
    upgrade = config.get("ciupgrade")
    if upgrade is None or str(upgrade) not in ("", "0"):
        out += "package_upgrade: true\n"
    return out


def _split_ip4(ip: str) -> tuple[str, str]:
    address, slash, prefix = ip.partition("/")
    if not slash:
        raise ValueError("not a CIDR: %s" % ip)
    return address, str(ipaddress.IPv4Network("0.0.0.0/%s" % prefix).netmask)


def _net_ids(config: Mapping[str, Any]) -> list[str]:
    """The netN keys in Perl's `sort` order (string order: net0, net1, net10, net2)."""
    return sorted(k for k in config if re.fullmatch(r"net\d+", k))


def network_config(config: Mapping[str, Any], host_search: str | None = None, host_dns: tuple[str, ...] = ()) -> str:
    """nocloud_network: network config version 1, one physical eth<N> per netN with an ipconfigN, then DNS."""
    out = "version: 1\nconfig:\n"
    for iface in _net_ids(config):
        nid = iface[3:]
        if not config.get("ipconfig" + nid):
            continue
        net = props(config[iface])
        ipconfig = props(config["ipconfig" + nid])
        mac = (net_mac(net) or "").lower()
        if not mac:
            raise ValueError("network interface '%s' has no mac address" % iface)
        i = "    "
        out += "%s- type: physical\n%s  name: eth%s\n%s  mac_address: '%s'\n%s  subnets:\n" % (i, i, nid, i, mac, i)
        i += "  "
        ip = ipconfig.get("ip")
        if ip is not None:
            if ip == "dhcp":
                out += "%s- type: dhcp4\n" % i
            else:
                address, mask = _split_ip4(ip)
                out += "%s- type: static\n%s  address: '%s'\n%s  netmask: '%s'\n" % (i, i, address, i, mask)
                if ipconfig.get("gw") is not None:
                    out += "%s  gateway: '%s'\n" % (i, ipconfig["gw"])
        ip6 = ipconfig.get("ip6")
        if ip6 is not None:
            if ip6 == "dhcp":
                out += "%s- type: dhcp6\n" % i
            elif ip6 == "auto":
                out += "%s- type: ipv6_slaac\n" % i
            else:
                out += "%s- type: static6\n%s  address: '%s'\n" % (i, i, ip6)
                if ipconfig.get("gw6") is not None:
                    out += "%s  gateway: '%s'\n" % (i, ipconfig["gw6"])
    i = "    "
    searchdomains, nameservers = dns_conf(config, host_search, host_dns)
    out += "%s- type: nameserver\n" % i  # PVE tests two array references here: always true
    if nameservers:
        out += "%s  address:\n" % i + "".join("%s  - '%s'\n" % (i, ns) for ns in nameservers)
    if searchdomains:
        out += "%s  search:\n" % i + "".join("%s  - '%s'\n" % (i, s) for s in searchdomains)
    return out


def meta_data(user: str, network: str) -> str:
    """nocloud_gen_metadata: the instance-id is the SHA-1 of user-data and network-config, so any change reruns it."""
    return "instance-id: %s\n" % hashlib.sha1((user + network).encode()).hexdigest()  # PVE's choice, not security


def nocloud_seed(
    config: Mapping[str, Any], vmid: int, host_search: str | None = None, host_dns: tuple[str, ...] = ()
) -> dict[str, str]:
    """generate_nocloud without cicustom: the files of the `cidata` volume, by name."""
    user = user_data(config, vmid)
    network = network_config(config, host_search, host_dns)
    return {"user-data": user, "network-config": network, "meta-data": meta_data(user, network), "vendor-data": ""}


def stored_password(password: str, vmid: int) -> str:
    """cipassword as PVE's API stores it: a SHA-256 crypt hash ($5$, encrypt_pw) unless it already is a hash.

    PVE salts from the clock; the lab derives the salt from the VM and the password, so the seed (and with it
    the instance-id) stays the same from one start to the next, as PVE's stored hash does. The password goes
    to openssl on stdin, never on a command line.
    """
    if HASHED.match(password):
        return password
    digest = hashlib.sha256(("%d\0%s" % (vmid, password)).encode()).digest()
    salt = base64.b64encode(digest, altchars=b"./").decode()[:8]
    result = subprocess.run(
        ["openssl", "passwd", "-5", "-salt", salt, "-stdin"],
        input=password,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout.strip()
