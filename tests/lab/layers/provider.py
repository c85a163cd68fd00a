"""The lab's provider network: the datacenter's external network, for project routers and floating IPs.

A podman network (`provider:` in lab.yml, internal like the others) that:
- the network node (pve1) gets as a third NIC (`eth2`); the hypervisor role's network-node tasks make the OVS
  provider bridge `br-ex` own it (roles/hypervisor/tasks/network_node.yml), as on a real network node;
- the machine (the controller) reaches directly: podman puts the network's gateway address on its bridge on the
  host, so the controller is a machine "outside" that reaches floating IPs;
- carries a small service (`ironcloud-provider-svc`, python3 -m http.server in a container of the hypervisor
  image) that VMs reach through their router's SNAT.

Attaching the NIC (`podman network connect`) needs no restart of the host container, so `up` adds it to a
running lab. Published: IRONCLOUD_LAB_PROVIDER_* (network, CIDR, gateway, floating IP pool, service), and the
inventory group `network_nodes` with `provider_interface`.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from typing import Any

from .base import ROOT, Lab, Layer
from .hosts import (
    IMAGE,
    LABEL,
    container_labels,
    container_running,
    ensure_network,
    exec_in,
    network_info,
    podman,
    remove_container,
    remove_network,
    require_ours,
)

PROVIDER_IFACE = "eth2"


def plan(lab: Lab) -> dict[str, Any]:
    """The provider network as lab.yml asks it, checked: addresses in the subnet, the pool clear of the rest."""
    cfg = lab.config["provider"]
    subnet = ipaddress.ip_network(cfg["subnet"])
    fixed = {
        "gateway": cfg["gateway"],
        "network_node_ip": cfg["network_node_ip"],
        "service.ip": cfg["service"]["ip"],
        "pool.start": cfg["pool"]["start"],
        "pool.end": cfg["pool"]["end"],
    }
    for key, value in fixed.items():
        if ipaddress.ip_address(value) not in subnet:
            raise RuntimeError(f"lab.yml: provider.{key} {value} is outside {subnet}")
    start, end = ipaddress.ip_address(cfg["pool"]["start"]), ipaddress.ip_address(cfg["pool"]["end"])
    if start > end:
        raise RuntimeError(f"lab.yml: provider.pool start {start} is after end {end}")
    for key in ("gateway", "network_node_ip", "service.ip"):
        if start <= ipaddress.ip_address(fixed[key]) <= end:
            raise RuntimeError(f"lab.yml: provider.{key} {fixed[key]} is inside the floating IP pool {start}-{end}")
    node = cfg["network_node"]
    if node not in lab.config["hosts"]["nodes"]:
        raise RuntimeError(f"lab.yml: provider.network_node {node} is not one of hosts.nodes")
    return {
        "network": cfg["network"],
        "subnet": str(subnet),
        "gateway": cfg["gateway"],
        "network_node": node,
        "network_node_ip": cfg["network_node_ip"],
        "service": dict(cfg["service"]),
        "pool": {"start": str(start), "end": str(end)},
        "mtu": int(cfg.get("mtu", 1500)),
    }


def attached(container: str, network: str) -> bool:
    result = podman("container", "inspect", "--format", "{{json .NetworkSettings.Networks}}", container, check=False)
    return result.returncode == 0 and network in (json.loads(result.stdout.strip() or "null") or {})


def run_service(p: dict[str, Any]) -> None:
    svc = p["service"]
    labels = container_labels(svc["name"])
    require_ours("container", svc["name"], labels)
    if labels is not None:
        if not container_running(svc["name"]):
            podman("start", svc["name"])
        return
    podman(
        "run",
        "-d",
        "--name",
        svc["name"],
        "--hostname",
        svc["name"],
        "--label",
        f"{LABEL}={ROOT}",
        "--network",
        f"{p['network']}:ip={svc['ip']}",
        "--memory",
        "64m",
        IMAGE,
        "python3",
        "-m",
        "http.server",
        "--bind",
        svc["ip"],
        str(svc["port"]),
    )


def transmit_checksums_in_software(p: dict[str, Any]) -> None:
    """Transmit offload off where TCP enters the network node's userspace datapath from the provider network.

    The host's side of the podman bridge and the service's eth0 hand TCP on with the checksum left to the
    hardware (CHECKSUM_PARTIAL); Open vSwitch's userspace datapath (br-ex on pve1) forwards such a packet as it is,
    and the router's namespace drops it for its bad checksum: ICMP passes, SSH to a floating IP and the service's
    replies do not. The VMs' and routers' ports get the same treatment (lab guests, ovs_router checksum_offload).
    """
    info = network_info(p["network"]) or {}
    bridge = info.get("network_interface")
    if bridge:
        subprocess.run(["ethtool", "-K", bridge, "tx", "off"], check=True, capture_output=True)
    pid = podman("inspect", "--format", "{{.State.Pid}}", p["service"]["name"]).stdout.strip()
    if pid and pid != "0":
        cmd = ["nsenter", "-t", pid, "-n", "ethtool", "-K", "eth0", "tx", "off"]
        subprocess.run(cmd, check=True, capture_output=True)


class Provider(Layer):
    name = "provider"

    def up(self, lab: Lab) -> None:
        p = plan(lab)
        ours = [p["network"]] + [lab.config["hosts"][r]["network"] for r in ("management", "underlay")]
        ensure_network(p["network"], p["subnet"], p["mtu"], ours)
        if not attached(p["network_node"], p["network"]):
            podman("network", "connect", "--ip", p["network_node_ip"], p["network"], p["network_node"])
        run_service(p)
        transmit_checksums_in_software(p)
        self._publish(lab, p)

    def down(self, lab: Lab) -> None:
        p = plan(lab)
        remove_container(p["service"]["name"])
        if attached(p["network_node"], p["network"]):
            podman("network", "disconnect", p["network"], p["network_node"], check=False)
        remove_network(p["network"])

    def status(self, lab: Lab) -> dict[str, Any]:
        p = plan(lab)
        up = (
            network_info(p["network"]) is not None
            and attached(p["network_node"], p["network"])
            and container_running(p["service"]["name"])
        )
        return {"up": up, "network": p["network"], "network_node": p["network_node"]}

    def _publish(self, lab: Lab, p: dict[str, Any]) -> None:
        iface = provider_interface(p)
        svc = p["service"]
        env = {
            "IRONCLOUD_LAB_PROVIDER_NETWORK": p["network"],
            "IRONCLOUD_LAB_PROVIDER_CIDR": p["subnet"],
            "IRONCLOUD_LAB_PROVIDER_GATEWAY": p["gateway"],
            "IRONCLOUD_LAB_PROVIDER_POOL": "%s-%s" % (p["pool"]["start"], p["pool"]["end"]),
            "IRONCLOUD_LAB_PROVIDER_NODE": p["network_node"],
            "IRONCLOUD_LAB_PROVIDER_SERVICE": "%s:%s" % (svc["ip"], svc["port"]),
        }
        inventory = {
            "all": {
                "children": {
                    "network_nodes": {"hosts": {p["network_node"]: {"provider_interface": iface}}},
                }
            }
        }
        lab.publish(self.name, env=env, inventory=inventory, **p)


def provider_interface(p: dict[str, Any]) -> str:
    """The network node's NIC on the provider network (found by its MAC: podman names the next free ethN)."""
    info = podman("container", "inspect", "--format", "{{json .NetworkSettings.Networks}}", p["network_node"])
    mac = (json.loads(info.stdout.strip() or "null") or {}).get(p["network"], {}).get("MacAddress", "")
    links = json.loads(exec_in(p["network_node"], "ip", "-j", "link", "show").stdout or "[]")
    for link in links:
        if mac and link.get("address") == mac:
            return str(link["ifname"])
    return PROVIDER_IFACE
