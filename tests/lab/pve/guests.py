"""Stand-in guests: a started VM of the lab's Proxmox API becomes a network namespace in its node's container.

As Proxmox plugs a VM NIC into an OVS bridge, starting VM <vmid> on node <node> (fakepve `_do_start`,
create with start=1) plugs a stand-in guest into the podman container <node> (tests/lab/layers/
hosts.py): a network namespace `vm<vmid>`, a veth `tap<vmid>i0` on net0's bridge (br-int) with net0's `tag=`,
eth0 with net0's MAC, the address and gateway of `ipconfig0` and the MTU of net0's `mtu=` (1450, the lab's
tenant MTU, when not set), and `tx` checksum offload off (the userspace datapath does not
complete CHECKSUM_PARTIAL packets: with offload on, TCP between guests breaks while ping works).
Only NICs on br-int get a guest (guest_bridges). Stop, shutdown and destroy unplug it; a reboot keeps it
(re-plugged only when its NIC changed); a finished migration moves it to the target node's container. Nothing
happens for a node without a container. HA-managed VMs change state after their task; call sync_guests then.

The commands are podman exec argument lists (plug_commands / unplug_commands), run by the fake with asyncio
subprocesses so its event loop never blocks, and by tests with plug() / unplug() (the same lists). A failing
plug is logged and never fails the fake or the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("labpve.guests")

DEFAULT_MTU = 1450
# Tasks after which a VM's guest is brought in line with the VM (power state, node, NIC config).
GUEST_TASKS = {
    "qmstart",
    "qmstop",
    "qmshutdown",
    "qmreboot",
    "qmdestroy",
    "qmcreate",
    "qmclone",
    "qmigrate",
    "qmmigrate",
    "hastart",
    "hastop",
}

Command = tuple[list[str], str | None, bool]  # argv, stdin, must succeed


@dataclass(frozen=True)
class Guest:
    vmid: int
    node: str
    bridge: str = "br-int"
    tag: int | None = None
    mac: str | None = None
    address: str | None = None  # CIDR
    gateway: str | None = None
    mtu: int = DEFAULT_MTU

    @property
    def netns(self) -> str:
        return "vm%d" % self.vmid

    @property
    def tap(self) -> str:
        return "tap%di0" % self.vmid


def _props(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in str(value or "").split(","):
        key, eq, val = part.partition("=")
        if eq:
            out[key.strip()] = val.strip()
        elif key.strip():
            out[key.strip()] = ""
    return out


def guest_of(vmid: int, node: str, config: Mapping[str, Any]) -> Guest | None:
    """The stand-in guest of a VM config (net0, ipconfig0), or None when it has no net0."""
    if not config.get("net0"):
        return None
    net = _props(str(config["net0"]))
    mac = next((v for k, v in net.items() if k in ("virtio", "e1000", "rtl8139", "vmxnet3") and v), None)
    ipcfg = _props(str(config.get("ipconfig0", "")))
    address = ipcfg.get("ip") if ipcfg.get("ip") not in (None, "", "dhcp", "manual") else None
    mtu = int(net["mtu"]) if net.get("mtu", "").isdigit() and int(net["mtu"]) > 1 else DEFAULT_MTU
    tag = int(net["tag"]) if net.get("tag", "").isdigit() else None
    return Guest(
        vmid=int(vmid),
        node=node,
        bridge=net.get("bridge") or "br-int",
        tag=tag,
        mac=mac,
        address=address,
        gateway=ipcfg.get("gw") or None,
        mtu=mtu,
    )


def unplug_commands(node: str, vmid: int) -> list[Command]:
    tap, netns = "tap%di0" % vmid, "vm%d" % vmid
    return [
        (["podman", "exec", node, "ovs-vsctl", "--timeout=10", "--if-exists", "del-port", tap], None, False),
        (
            ["podman", "exec", "-i", node, "ip", "-force", "-batch", "-"],
            "link del dev %s\nnetns del %s\n" % (tap, netns),
            False,
        ),
    ]


def plug_commands(guest: Guest) -> list[Command]:
    """Everything to (re)plug guest, as podman exec argument lists: clean up, the veth pair, eth0, the OVS port."""
    ns, tap = guest.netns, guest.tap
    inside = ["link set dev lo up"]
    eth0 = "link set dev eth0 mtu %d" % guest.mtu
    if guest.mac:
        eth0 += " address %s" % guest.mac.lower()
    inside.append(eth0)
    if guest.address:
        inside.append("addr add %s dev eth0" % guest.address)
    inside.append("link set dev eth0 up")
    if guest.gateway and guest.address:
        inside.append("route add default via %s" % guest.gateway)
    batch = [
        "netns add %s" % ns,
        "link add name %s mtu %d type veth peer name eth0 netns %s" % (tap, guest.mtu, ns),
        "link set dev %s up" % tap,
    ]
    batch += ["netns exec %s ip %s" % (ns, line) for line in inside]
    batch.append("netns exec %s ethtool -K eth0 tx off" % ns)
    port = ["ovs-vsctl", "--timeout=10", "--", "--if-exists", "del-port", tap, "--", "add-port", guest.bridge, tap]
    if guest.tag is not None:
        port.append("tag=%d" % guest.tag)
    port += ["--", "set", "interface", tap, "external_ids:vmid=%d" % guest.vmid]
    return unplug_commands(guest.node, guest.vmid)[1:] + [
        (["podman", "exec", "-i", guest.node, "ip", "-batch", "-"], "".join(b + "\n" for b in batch), True),
        (["podman", "exec", guest.node] + port, None, True),
    ]


def container_exists(node: str) -> bool:
    return subprocess.run(["podman", "container", "exists", node], capture_output=True, check=False).returncode == 0


def _run_sync(commands: list[Command]) -> None:
    for argv, stdin, must in commands:
        result = subprocess.run(argv, input=stdin, text=True, capture_output=True, timeout=60, check=False)
        if must and result.returncode != 0:
            raise RuntimeError("%s: rc=%d %s" % (" ".join(argv), result.returncode, result.stderr.strip()))


def plug(guest: Guest) -> None:
    """Plug guest now (for tests; the same commands the fake runs)."""
    _run_sync(plug_commands(guest))


def unplug(node: str, vmid: int) -> None:
    _run_sync(unplug_commands(node, vmid))


async def _run_async(commands: list[Command]) -> None:
    for argv, stdin, must in commands:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _ignored, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), 60)
        if must and proc.returncode != 0:
            raise RuntimeError("%s: rc=%s %s" % (" ".join(argv), proc.returncode, err.decode(errors="replace").strip()))


async def _container_exists_async(node: str) -> bool:
    proc = await asyncio.create_subprocess_exec(
        "podman", "container", "exists", node, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return await proc.wait() == 0


class GuestsMixin:
    """Keeps each VM's stand-in guest in line with the VM after every power, create, destroy and migrate task."""

    guest_plugging = True  # tests may switch it off through the control socket (set guest_plugging false)
    # Only NICs on these bridges get a guest: the lab's hypervisors have no vmbr0 (the template's default), and
    # a plug that can only fail would cost every other test's VM starts several podman execs.
    guest_bridges = ("br-int",)

    def _guest_state(self) -> dict[int, Guest]:
        plugged = self.__dict__.get("_plugged_guests")
        if plugged is None:
            plugged = self.__dict__["_plugged_guests"] = {}
            self.__dict__["_guest_locks"] = {}
        return plugged

    def _guest_lock(self, vmid: int) -> asyncio.Lock:
        self._guest_state()
        return self.__dict__["_guest_locks"].setdefault(vmid, asyncio.Lock())

    async def task(self, node, ttype, tid, user, body, vm=None, lock=True, log=()):
        if vm is None or ttype not in GUEST_TASKS or not hasattr(vm, "vmid") or not hasattr(vm, "qmpstatus"):
            return await super().task(node, ttype, tid, user, body, vm=vm, lock=lock, log=log)

        async def body_then_guest():
            note = await body()
            await self.sync_guest(vm)
            return note

        return await super().task(node, ttype, tid, user, body_then_guest, vm=vm, lock=lock, log=log)

    async def sync_guest(self, vm: Any) -> dict[str, Any] | None:
        """Plug, move or unplug vm's guest to match the VM; also callable through the control socket (by vmid)."""
        if isinstance(vm, (int, str)):
            vm = next((v for v in self.vms if v.vmid == int(vm)), None) or _Gone(int(vm))
        if not self.guest_plugging:
            return None
        plugged = self._guest_state()
        async with self._guest_lock(vm.vmid):
            running = vm in self.vms and vm.status == "running" and not getattr(vm, "template", False)
            want = guest_of(vm.vmid, vm.node, vm.config) if running else None
            if want is not None and want.bridge not in self.guest_bridges:
                want = None
            have = plugged.get(vm.vmid)
            if want == have:
                return None
            try:
                if have is not None:
                    plugged.pop(vm.vmid, None)
                    if await _container_exists_async(have.node):
                        await _run_async(unplug_commands(have.node, have.vmid))
                if want is not None and await _container_exists_async(want.node):
                    await _run_async(plug_commands(want))
                    plugged[vm.vmid] = want
            except (TimeoutError, OSError, RuntimeError) as e:
                log.warning("lab guest of VM %s: %s", vm.vmid, e)
                if want is not None:  # leave no half-plugged guest behind
                    with contextlib.suppress(OSError, RuntimeError, asyncio.TimeoutError):
                        await _run_async(unplug_commands(want.node, want.vmid))
                return {"error": str(e)}
        return {"plugged": want is not None and plugged.get(vm.vmid) == want, "node": want.node if want else None}

    async def sync_guests(self) -> dict[str, Any]:
        """Bring every guest in line: VMs that vanished without a task (remove_vms) unplugged, running ones plugged."""
        vmids = set(self._guest_state()) | {
            vm.vmid for vm in self.vms if vm.status == "running" and hasattr(vm, "qmpstatus")
        }
        results = {}
        for vmid in sorted(vmids):
            results[str(vmid)] = await self.sync_guest(vmid)
        return results

    async def clear_stale_guests(self, nodes: list[str]) -> list[str]:
        """Unplug every stand-in guest in the nodes' containers that no VM of this fake owns.

        A fake that starts knows no VM, so guests left by an earlier run of it (the fake restarted while
        the hypervisor containers stayed up) would keep answering on addresses new VMs are given.
        """
        owned = set(self._guest_state())
        removed = []
        for node in nodes:
            if not await _container_exists_async(node):
                continue
            proc = await asyncio.create_subprocess_exec(
                "podman",
                "exec",
                node,
                "ip",
                "-j",
                "netns",
                "list",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            out, _err = await proc.communicate()
            try:
                names = [entry["name"] for entry in json.loads(out or b"[]")]
            except ValueError:
                continue
            for name in names:
                if re.fullmatch(r"vm\d+", name) and int(name[2:]) not in owned:
                    await _run_async(unplug_commands(node, int(name[2:])))
                    removed.append("%s@%s" % (name, node))
        return removed

    def guests(self) -> dict[str, Any]:
        """The plugged stand-in guests, by vmid (for tests, through the control socket)."""
        return {str(k): dict(g.__dict__) for k, g in sorted(self._guest_state().items())}


class _Gone:
    """A VM that no longer exists (destroyed): its guest is unplugged."""

    def __init__(self, vmid: int) -> None:
        self.vmid = vmid
        self.node = ""
        self.status = "stopped"
        self.config: dict[str, Any] = {}
