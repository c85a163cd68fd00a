"""Stand-in guest systems: a started VM of the lab's Proxmox API becomes a small Debian system in a container.

Starting VM <vmid> on node <node> (fakepve `_do_start`, create with start=1) starts the podman container
`ironcloud-vm<vmid>` from localhost/ironcloud-guest:bookworm (tests/lab/guest, built by the hosts layer):
systemd, sshd and Debian's cloud-init, which reads the NoCloud seed the lab renders from the VM's cloud-init
settings the way PVE does (cloudinit.py) and applies it at first boot (user, SSH keys, hostname, address, DNS).
Its NIC is plugged as Proxmox plugs one: the guest's network namespace `ironcloud-vm<vmid>` (on the machine)
holds `eth0` (net0's MAC and MTU: 1450, the lab's tenant MTU, when net0 has no `mtu=`; tx checksum offload off),
the other end of the veth pair is `tap<vmid>i0` in the node's container, a port of net0's bridge (br-int) with
net0's `tag=`. Only NICs on br-int get a guest (guest_bridges); nothing happens for a node without a container.

- stop and shutdown stop the container (its filesystem, the VM's "disk", stays) and remove the tap and netns;
  a start plugs a new NIC and starts the same container again; a reboot restarts it with a fresh seed;
- destroy removes the container, its netns and its seed;
- a migration moves only the tap to the target node's br-int: the guest keeps running (same processes);
- a NIC whose tag changes is re-tagged; a new MAC, MTU or address restarts the guest with a new NIC.

The commands are argument lists run on the machine (`Command`: argv, stdin, must succeed; `{pid:<node>}` in an
argv stands for the PID of the node's container), run by the fake with asyncio subprocesses so its event loop
never blocks, and by tests with plug() / unplug() (the same lists). A failing plug is logged and never fails the
fake or the task. The seed holds the password hash: its directory is the owner's only, and it is never logged.
HA-managed VMs change state after their task; call sync_guests then.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cloudinit

log = logging.getLogger("labpve.guests")

DEFAULT_MTU = 1450
GUEST_IMAGE = "localhost/ironcloud-guest:bookworm"
# An idle guest's budget is 64 MiB (about 27 MB measured, tests/lab/README.md): the soft limit podman sets, to
# which the kernel reclaims a guest when memory runs short. The first boot peaks above it (cloud-init's Python
# stages, ssh-keygen: a 64 MiB hard limit had cloud-init killed), so the hard limit is twice that.
GUEST_MEMORY = "64m"
GUEST_MEMORY_MAX = "128m"
# A VM whose `memory` is larger than the 128 MiB hard limit (a K3s node: the stand-in k3s and its etcd take about
# 150-250 MB more) gets its VM memory as the hard limit, capped here: the machine is shared. The reservation stays
# 64 MiB, so an idle guest is still reclaimed to its budget when memory runs short.
GUEST_MEMORY_CAP_MB = 1024
PREFIX = "ironcloud-vm"  # container and network namespace name: PREFIX + vmid
# Every guest container carries LABEL=<owner> and its tap the OVS external id PORT_OWNER=<owner>: a fake clears
# only its own leftovers (another lab API, or a test, may run guests on the same nodes).
LABEL = "io.ironcloud.lab.pve"
PORT_OWNER = "ironcloud-lab-pve"
TEST_OWNER = "tests"
SEED_MOUNT = "/var/lib/cloud/seed/nocloud"
STOP_TIMEOUT = 5
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


def owner_of(state_dir: str) -> str:
    """The owner id of the guests of the fake whose state is in state_dir."""
    return "pve-" + hashlib.sha256(os.path.abspath(state_dir).encode()).hexdigest()[:10]


def pid_of(node: str) -> str:
    return "{pid:%s}" % node


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
    memory_mb: int | None = None  # the VM's memory: the hard limit when above 128 MiB (memory_limit)

    @property
    def memory_limit(self) -> str:
        """The container's hard memory limit: 128 MiB, or the VM's memory up to GUEST_MEMORY_CAP_MB."""
        if self.memory_mb and self.memory_mb > 128:
            return "%dm" % min(self.memory_mb, GUEST_MEMORY_CAP_MB)
        return GUEST_MEMORY_MAX

    @property
    def name(self) -> str:
        """The guest's container and its network namespace on the machine."""
        return "%s%d" % (PREFIX, self.vmid)

    @property
    def netns(self) -> str:
        return self.name

    @property
    def tap(self) -> str:
        return "tap%di0" % self.vmid

    @property
    def mac_address(self) -> str:
        """net0's MAC, or one made from the vmid (locally administered) for a guest plugged without one."""
        if self.mac:
            return self.mac.lower()
        return "02:1c:%02x:%02x:%02x:%02x" % tuple(self.vmid.to_bytes(4, "big"))

    def config(self) -> dict[str, Any]:
        """The VM config this guest stands for (for guests plugged directly by tests): net0 and ipconfig0."""
        net0 = "virtio=%s,bridge=%s" % (self.mac_address.upper(), self.bridge)
        if self.tag is not None:
            net0 += ",tag=%d" % self.tag
        net0 += ",mtu=%d" % self.mtu
        config: dict[str, Any] = {"name": "vm%d" % self.vmid, "net0": net0}
        if self.memory_mb:
            config["memory"] = self.memory_mb
        if self.address:
            config["ipconfig0"] = "ip=%s" % self.address + (",gw=%s" % self.gateway if self.gateway else "")
        return config


def guest_of(vmid: int, node: str, config: Mapping[str, Any]) -> Guest | None:
    """The stand-in guest of a VM config (net0, ipconfig0), or None when it has no net0."""
    if not config.get("net0"):
        return None
    net = cloudinit.props(config["net0"])
    ipcfg = cloudinit.props(config.get("ipconfig0", ""))
    address = ipcfg.get("ip") if ipcfg.get("ip") not in (None, "", "dhcp", "manual") else None
    mtu = int(net["mtu"]) if net.get("mtu", "").isdigit() and int(net["mtu"]) > 1 else DEFAULT_MTU
    tag = int(net["tag"]) if net.get("tag", "").isdigit() else None
    return Guest(
        vmid=int(vmid),
        node=node,
        bridge=net.get("bridge") or "br-int",
        tag=tag,
        mac=cloudinit.net_mac(net),
        address=address,
        gateway=ipcfg.get("gw") or None,
        mtu=mtu,
        memory_mb=int(config["memory"]) if str(config.get("memory", "")).isdigit() else None,
    )


def seed_files(vmid: int, config: Mapping[str, Any]) -> dict[str, str]:
    """The NoCloud seed of a VM config, with cipassword hashed as PVE stores it."""
    config = dict(config)
    if config.get("cipassword") is not None:
        config["cipassword"] = cloudinit.stored_password(str(config["cipassword"]), vmid)
    return cloudinit.nocloud_seed(config, vmid)


def write_seed(directory: str, files: Mapping[str, str]) -> None:
    """Write the seed files (0600, in a 0700 directory: user-data holds the password hash)."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    for name, content in files.items():
        path = os.path.join(directory, name)
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
        os.replace(path + ".tmp", path)


# ---------------------------------------------------------------- command lists


def port_commands(guest: Guest, owner: str) -> list[Command]:
    """The tap (already in the node's container) up and on the bridge with net0's tag."""
    port = ["ovs-vsctl", "--timeout=10", "--", "--if-exists", "del-port", guest.tap, "--", "add-port", guest.bridge]
    port.append(guest.tap)
    if guest.tag is not None:
        port.append("tag=%d" % guest.tag)
    port += ["--", "set", "interface", guest.tap, "external_ids:vmid=%d" % guest.vmid]
    port.append("external_ids:%s=%s" % (PORT_OWNER, owner))
    return [
        (["podman", "exec", guest.node, "ip", "link", "set", "dev", guest.tap, "up"], None, True),
        (["podman", "exec", guest.node] + port, None, True),
    ]


def veth_commands(guest: Guest, owner: str) -> list[Command]:
    """A veth pair into the guest's (existing) netns: eth0 inside, tap<vmid>i0 moved into the node, on its bridge."""
    mtu = str(guest.mtu)
    return [
        (
            ["ip", "link", "add", "name", guest.tap, "mtu", mtu, "type", "veth", "peer", "name", "eth0", "mtu", mtu]
            + ["netns", guest.netns],
            None,
            True,
        ),  # fmt: skip
        (["ip", "-n", guest.netns, "link", "set", "dev", "eth0", "address", guest.mac_address], None, True),
        (["ip", "netns", "exec", guest.netns, "ethtool", "-K", "eth0", "tx", "off"], None, True),
        (["ip", "link", "set", "dev", guest.tap, "netns", pid_of(guest.node)], None, True),
    ] + port_commands(guest, owner)


def net_commands(guest: Guest, owner: str) -> list[Command]:
    """A fresh network namespace for the guest (made before its container starts, so eth0 is there for
    cloud-init's network stage) with its NIC plugged."""
    return [
        (["ip", "link", "del", "dev", guest.tap], None, False),  # a half-made plug of an earlier attempt
        (["ip", "netns", "del", guest.netns], None, False),
        (["ip", "netns", "add", guest.netns], None, True),
    ] + veth_commands(guest, owner)


def run_command(guest: Guest, hostname: str, seed_dir: str, owner: str, image: str = GUEST_IMAGE) -> Command:
    """podman run of a new guest container in the guest's netns.

    NET_ADMIN and NET_RAW: systemd-networkd fails the link without NET_RAW, and ping needs it. --no-hosts and
    --dns none leave /etc/hosts to cloud-init (manage_etc_hosts) and resolv.conf to systemd-resolved. The
    hostname is the one the seed sets: cloud-init writes the static one, but setting the running one needs
    CAP_SYS_ADMIN, which a guest does not get.
    """
    return (
        [
            "podman",
            "run",
            "-d",
            "--name",
            guest.name,
            "--label",
            "%s=%s" % (LABEL, owner),
            "--hostname",
            hostname,
            "--network",
            "ns:/run/netns/%s" % guest.netns,
            "--no-hosts",
            "--dns",
            "none",
            "--cap-add",
            "NET_ADMIN,NET_RAW",
            "--systemd=always",
            "--memory-reservation",
            GUEST_MEMORY,
            "--memory",
            guest.memory_limit,
            "--memory-swap",
            guest.memory_limit,
            "-v",
            "%s:%s:ro" % (seed_dir, SEED_MOUNT),
            image,
            "/sbin/init",
        ],
        None,
        True,
    )


def tap_del_commands(node: str, vmid: int) -> list[Command]:
    tap = "tap%di0" % vmid
    return [
        (["podman", "exec", node, "ovs-vsctl", "--timeout=10", "--if-exists", "del-port", tap], None, False),
        (["podman", "exec", node, "ip", "link", "del", "dev", tap], None, False),
    ]


def stop_commands(node: str | None, vmid: int) -> list[Command]:
    """Stop the guest (its container stays: the disk) and unplug its NIC: tap, port and netns go."""
    name = "%s%d" % (PREFIX, vmid)
    cmds: list[Command] = [(["podman", "stop", "-t", str(STOP_TIMEOUT), name], None, False)]
    if node:
        cmds += tap_del_commands(node, vmid)
    return cmds + [(["ip", "netns", "del", name], None, False)]


def unplug_commands(node: str | None, vmid: int) -> list[Command]:
    """Remove the guest: stop it, unplug it, remove its container."""
    name = "%s%d" % (PREFIX, vmid)
    return [(["podman", "rm", "-f", "-t", "0", name], None, False)] + stop_commands(node, vmid)[1:]


# What QEMU does at the end of a live migration (announce-self): broadcast RARP frames from the NIC's MAC, so the
# switches learn its new place at once (the guest itself sends nothing it would not send anyway).
ANNOUNCE = (
    "import socket, sys, time\n"
    "mac = bytes.fromhex(sys.argv[1].replace(':', ''))\n"
    "frame = b'\\xff' * 6 + mac + b'\\x80\\x35' + bytes.fromhex('0001080006040003') + mac + bytes(4) + mac + bytes(4)\n"
    "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
    "s.bind(('eth0', 0))\n"
    "for delay in (0, 0.05, 0.15):\n"
    "    time.sleep(delay)\n"
    "    s.send(frame.ljust(60, bytes(1)))\n"
)


def announce_command(guest: Guest) -> Command:
    """RARP announcements from the guest's eth0 (run in its netns on the machine), as QEMU sends after a migration."""
    return (["ip", "netns", "exec", guest.netns, "python3", "-c", ANNOUNCE, guest.mac_address], None, False)


def move_commands(have: Guest, want: Guest, owner: str) -> list[Command]:
    """A live migration: only the tap moves from have.node's container into want.node's, onto its bridge; then
    the NIC announces itself there, as QEMU's does."""
    return [
        (["podman", "exec", have.node, "ovs-vsctl", "--timeout=10", "--if-exists", "del-port", have.tap], None, False),
        (
            [
                "nsenter",
                "-t",
                pid_of(have.node),
                "-n",
                "ip",
                "link",
                "set",
                "dev",
                have.tap,
                "netns",
                pid_of(want.node),
            ],
            None,
            True,
        ),  # fmt: skip
    ] + port_commands(want, owner)


# ---------------------------------------------------------------- running them


def _podman_pid(node: str) -> str:
    result = subprocess.run(
        ["podman", "inspect", "--format", "{{.State.Pid}}", node], capture_output=True, text=True, check=False
    )
    pid = result.stdout.strip()
    if result.returncode != 0 or not pid.isdigit() or pid == "0":
        raise RuntimeError("no running container %s" % node)
    return pid


def _resolve(argv: list[str], pids: dict[str, str]) -> list[str]:
    out = []
    for arg in argv:
        match = re.fullmatch(r"\{pid:([^}]+)\}", arg)
        out.append(pids.setdefault(match.group(1), _podman_pid(match.group(1))) if match else arg)
    return out


def container_exists(node: str) -> bool:
    return subprocess.run(["podman", "container", "exists", node], capture_output=True, check=False).returncode == 0


def _run_sync(commands: list[Command]) -> None:
    pids: dict[str, str] = {}
    for argv, stdin, must in commands:
        try:
            argv = _resolve(argv, pids)
        except RuntimeError:
            if must:
                raise
            continue
        result = subprocess.run(argv, input=stdin, text=True, capture_output=True, timeout=60, check=False)
        if must and result.returncode != 0:
            raise RuntimeError("%s: rc=%d %s" % (" ".join(argv), result.returncode, result.stderr.strip()))


def default_seed_root() -> str:
    return os.path.join(tempfile.gettempdir(), "ironcloud-lab-guests")


def plug(
    guest: Guest, wait: bool = True, seed_root: str | None = None, owner: str = TEST_OWNER, image: str = GUEST_IMAGE
) -> None:
    """Start guest now, from nothing (for tests; the commands the fake runs). wait: until cloud-init is done."""
    seed_dir = os.path.join(seed_root or default_seed_root(), str(guest.vmid))
    _run_sync(unplug_commands(guest.node, guest.vmid))
    config = guest.config()
    write_seed(seed_dir, seed_files(guest.vmid, config))
    _run_sync(net_commands(guest, owner))
    _run_sync([run_command(guest, cloudinit.hostname_fqdn(config, guest.vmid)[0], seed_dir, owner, image)])
    if wait:
        wait_booted(guest.vmid)


def unplug(node: str | None, vmid: int, seed_root: str | None = None) -> None:
    """Remove the guest of vmid (container, netns, tap on node, seed)."""
    _run_sync(unplug_commands(node if node and container_exists(node) else None, vmid))
    shutil.rmtree(os.path.join(seed_root or default_seed_root(), str(vmid)), ignore_errors=True)


def exec_argv(vmid: int, *argv: str) -> list[str]:
    """The argument list that runs argv inside the guest of vmid (e.g. ping from the guest)."""
    return ["podman", "exec", "%s%d" % (PREFIX, vmid), *argv]


def cloud_init_status(vmid: int) -> str:
    """`cloud-init status` of the guest: done, error, running, not run; "" until the guest answers."""
    result = subprocess.run(exec_argv(vmid, "cloud-init", "status"), capture_output=True, text=True, check=False)
    match = re.search(r"^status: (.*)$", result.stdout, re.M)
    return match.group(1).strip() if match else ""


def wait_booted(vmid: int, timeout: float = 120.0) -> str:
    """Wait until cloud-init in the guest has finished (done or error); returns that status."""
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = cloud_init_status(vmid)
        if status in ("done", "error", "disabled"):
            return status
        time.sleep(0.5)
    raise TimeoutError("guest of VM %d: cloud-init not finished after %.0f s (%r)" % (vmid, timeout, status))


def boot_id(vmid: int) -> str:
    """The guest's boot: when its container (PID 1, systemd) started and with which PID; a migration keeps it.

    /proc/sys/kernel/random/boot_id is the machine's kernel's, the same in every guest.
    """
    result = subprocess.run(
        ["podman", "inspect", "--format", "{{.State.StartedAt}} {{.State.Pid}}", "%s%d" % (PREFIX, vmid)],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


async def _run_async(commands: list[Command]) -> None:
    pids: dict[str, str] = {}
    for argv, stdin, must in commands:
        try:
            argv = await asyncio.to_thread(_resolve, argv, pids)
        except RuntimeError:
            if must:
                raise
            continue
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _ignored, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), 60)
        if must and proc.returncode != 0:
            raise RuntimeError("%s: rc=%s %s" % (" ".join(argv), proc.returncode, err.decode(errors="replace").strip()))


async def _output_async(*argv: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _err = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


async def _container_exists_async(node: str) -> bool:
    return (await _output_async("podman", "container", "exists", node))[0] == 0


async def _container_running_async(name: str) -> bool:
    rc, out = await _output_async("podman", "container", "inspect", "--format", "{{.State.Running}}", name)
    return rc == 0 and out.strip() == "true"


class GuestsMixin:
    """Keeps each VM's stand-in guest in line with the VM after every power, create, destroy and migrate task."""

    guest_plugging = True  # tests may switch it off through the control socket (set guest_plugging false)
    # Only NICs on these bridges get a guest: the lab's hypervisors have no vmbr0 (the template's default), and
    # a plug that can only fail would cost every other test's VM starts several podman calls.
    guest_bridges = ("br-int",)
    guest_owner = "labpve"  # serve.py: owner_of(state dir)
    guest_dir: str | None = None  # serve.py: <state dir>/guests (the seeds)
    guest_image = GUEST_IMAGE

    def _guest_state(self) -> dict[int, Guest]:
        plugged = self.__dict__.get("_plugged_guests")
        if plugged is None:
            plugged = self.__dict__["_plugged_guests"] = {}
            self.__dict__["_guest_locks"] = {}
        return plugged

    def _guest_lock(self, vmid: int) -> asyncio.Lock:
        self._guest_state()
        return self.__dict__["_guest_locks"].setdefault(vmid, asyncio.Lock())

    def _seed_dir(self, vmid: int) -> str:
        return os.path.join(self.guest_dir or default_seed_root(), str(vmid))

    async def task(self, node, ttype, tid, user, body, vm=None, lock=True, log=()):
        if vm is None or ttype not in GUEST_TASKS or not hasattr(vm, "vmid") or not hasattr(vm, "qmpstatus"):
            return await super().task(node, ttype, tid, user, body, vm=vm, lock=lock, log=log)

        async def body_then_guest():
            note = await body()
            await self.sync_guest(vm, reboot=ttype == "qmreboot")
            return note

        return await super().task(node, ttype, tid, user, body_then_guest, vm=vm, lock=lock, log=log)

    async def _start_guest(self, want: Guest, config: Mapping[str, Any]) -> None:
        seed_dir = self._seed_dir(want.vmid)
        files = await asyncio.to_thread(seed_files, want.vmid, config)
        await asyncio.to_thread(write_seed, seed_dir, files)
        exists = await _container_exists_async(want.name)
        if exists:  # a guest left running without a NIC (e.g. by a failed plug): stop it before its netns goes
            await _run_async([(["podman", "stop", "-t", str(STOP_TIMEOUT), want.name], None, False)])
        await _run_async(net_commands(want, self.guest_owner))
        if exists:
            await _run_async([(["podman", "start", want.name], None, True)])
        else:
            hostname = cloudinit.hostname_fqdn(config, want.vmid)[0]
            await _run_async([run_command(want, hostname, seed_dir, self.guest_owner, self.guest_image)])

    async def _reboot_guest(self, guest: Guest, config: Mapping[str, Any]) -> None:
        files = await asyncio.to_thread(seed_files, guest.vmid, config)
        await asyncio.to_thread(write_seed, self._seed_dir(guest.vmid), files)
        await _run_async([(["podman", "restart", "-t", str(STOP_TIMEOUT), guest.name], None, True)])

    async def sync_guest(self, vm: Any, reboot: bool = False) -> dict[str, Any] | None:
        """Start, move, re-tag, restart or stop vm's guest to match the VM; also callable by vmid (control socket)."""
        if isinstance(vm, (int, str)):
            vm = next((v for v in self.vms if v.vmid == int(vm)), None) or _Gone(int(vm))
        if not self.guest_plugging:
            return None
        plugged = self._guest_state()
        async with self._guest_lock(vm.vmid):
            exists = vm in self.vms
            running = exists and vm.status == "running" and not getattr(vm, "template", False)
            want = guest_of(vm.vmid, vm.node, vm.config) if running else None
            if want is not None and want.bridge not in self.guest_bridges:
                want = None
            if want is not None and not await _container_exists_async(want.node):
                want = None
            have = plugged.get(vm.vmid)
            if want == have and not (reboot and want is not None):
                if not exists:
                    await self._remove_guest(vm.vmid, None)
                return None
            action = "start"
            try:
                if want is not None and have is not None and want == have:
                    action = "reboot"
                    await self._reboot_guest(want, vm.config)
                elif want is not None and have is not None and _same_nic(want, have) and want.node != have.node:
                    action = "migrate"
                    plugged.pop(vm.vmid, None)
                    if await _container_exists_async(have.node):
                        await _run_async(move_commands(have, want, self.guest_owner))
                    else:  # the source node's container is gone, and the tap with it: a new veth into the guest
                        await _run_async(veth_commands(want, self.guest_owner) + [announce_command(want)])
                    plugged[vm.vmid] = want
                elif want is not None and have is not None and _same_nic(want, have) and want.node == have.node:
                    action = "retag"
                    plugged.pop(vm.vmid, None)
                    await _run_async(port_commands(want, self.guest_owner))
                    plugged[vm.vmid] = want
                else:
                    if have is not None:
                        action = "stop"
                        plugged.pop(vm.vmid, None)
                        node = have.node if await _container_exists_async(have.node) else None
                        await _run_async(stop_commands(node, vm.vmid))
                    if not exists:
                        action = "destroy"
                        await self._remove_guest(vm.vmid, None)
                    if want is not None:
                        action = "start"
                        await self._start_guest(want, vm.config)
                        plugged[vm.vmid] = want
            except (TimeoutError, OSError, RuntimeError, ValueError, subprocess.SubprocessError) as e:
                log.warning("lab guest of VM %s (%s): %s", vm.vmid, action, e)
                if want is not None and plugged.get(vm.vmid) != want:  # leave no half-plugged guest behind
                    with contextlib.suppress(OSError, RuntimeError, asyncio.TimeoutError):
                        await _run_async(stop_commands(want.node, want.vmid))
                return {"error": str(e), "action": action}
        return {
            "plugged": want is not None and plugged.get(vm.vmid) == want,
            "node": want.node if want else None,
            "action": action,
        }

    async def _remove_guest(self, vmid: int, node: str | None) -> None:
        await _run_async(unplug_commands(node, vmid))
        await asyncio.to_thread(shutil.rmtree, self._seed_dir(vmid), True)

    async def sync_guests(self) -> dict[str, Any]:
        """Bring every guest in line: VMs that vanished without a task (remove_vms) removed, running ones started."""
        vmids = set(self._guest_state()) | {
            vm.vmid for vm in self.vms if vm.status == "running" and hasattr(vm, "qmpstatus")
        }
        results = {}
        for vmid in sorted(vmids):
            results[str(vmid)] = await self.sync_guest(vmid)
        return results

    async def clear_stale_guests(self, nodes: list[str], legacy: bool = True) -> list[str]:
        """Remove every guest of this fake's owner that no VM of it owns: containers, netns, taps, seeds.

        A fake that starts knows no VM, so guests left by an earlier run of it (the fake restarted while the
        hypervisor containers stayed up) would keep answering on addresses new VMs are given. Guests of
        another owner (another lab API, tests) are left alone. legacy: also the bare network namespaces
        `vm<vmid>` in the nodes' containers that the lab's earlier stand-in guests were.
        """
        owned = set(self._guest_state())
        removed = []
        _rc, out = await _output_async(
            "podman", "ps", "-a", "--filter", "label=%s=%s" % (LABEL, self.guest_owner), "--format", "{{.Names}}"
        )
        for name in out.split():
            if re.fullmatch(re.escape(PREFIX) + r"\d+", name) and int(name[len(PREFIX) :]) not in owned:
                await self._remove_guest(int(name[len(PREFIX) :]), None)
                removed.append(name)
        for node in nodes:
            if not await _container_exists_async(node):
                continue
            _rc, out = await _output_async(
                "podman",
                "exec",
                node,
                "ovs-vsctl",
                "--format=json",
                "--columns=name",
                "find",
                "Interface",
                "external_ids:%s=%s" % (PORT_OWNER, self.guest_owner),
            )
            with contextlib.suppress(ValueError, KeyError, IndexError):
                for row in json.loads(out or '{"data": []}')["data"]:
                    match = re.fullmatch(r"tap(\d+)i0", str(row[0]))
                    if match and int(match.group(1)) not in owned:
                        await _run_async(tap_del_commands(node, int(match.group(1))))
                        removed.append("%s@%s" % (row[0], node))
            if legacy:
                _rc, out = await _output_async("podman", "exec", node, "ip", "-j", "netns", "list")
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    for entry in json.loads(out or "[]"):
                        if re.fullmatch(r"vm\d+", entry["name"]) and int(entry["name"][2:]) not in owned:
                            vmid = int(entry["name"][2:])
                            await _run_async(
                                tap_del_commands(node, vmid)
                                + [(["podman", "exec", node, "ip", "netns", "del", entry["name"]], None, False)]
                            )
                            removed.append("%s@%s" % (entry["name"], node))
        return removed

    def guests(self) -> dict[str, Any]:
        """The plugged stand-in guests, by vmid (for tests, through the control socket)."""
        return {
            str(k): dict(g.__dict__, name=g.name, netns=g.netns, tap=g.tap)
            for k, g in sorted(self._guest_state().items())
        }


def _same_nic(a: Guest, b: Guest) -> bool:
    """The same virtual NIC (MAC, MTU, address): only its place (node, bridge, tag) may differ."""
    return (a.mac, a.mtu, a.address, a.gateway) == (b.mac, b.mtu, b.address, b.gateway)


class _Gone:
    """A VM that no longer exists (destroyed): its guest is removed."""

    def __init__(self, vmid: int) -> None:
        self.vmid = vmid
        self.node = ""
        self.status = "stopped"
        self.config: dict[str, Any] = {}
