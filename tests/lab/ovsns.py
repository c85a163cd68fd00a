"""Open vSwitch in a network namespace of this machine: a throwaway hypervisor for tests and benchmarks.

Every namespace is named `ovslab-<name>` (tests/lab/README.md, "Pitfalls"), every file lives under one
temporary directory, ovsdb-server and ovs-vswitchd run inside the namespace with the userspace datapath and
are stopped by the PIDs of their own pidfiles. Nothing uses the machine's default OVS paths.

    with NsOvsLab() as lab:
        a = lab.host("a", "192.0.2.1")
        b = lab.host("b", "192.0.2.2")
        a.vsctl("show")
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
PREFIX = "ovslab-"


def _run(
    argv: list[str], check: bool = True, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, text=True, capture_output=True, env=env, input=input, check=False)
    if check and result.returncode != 0:
        raise RuntimeError("%s: rc=%s %s" % (" ".join(argv), result.returncode, result.stderr.strip()))
    return result


def _read_pid(path: str) -> int | None:
    try:
        with open(path, encoding="utf-8") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class NsOvsHost:
    """One simulated hypervisor: namespace ovslab-<tag>-<name>, its own OVS, a NIC on the lab's underlay."""

    def __init__(self, lab: NsOvsLab, name: str, address: str, prefix_len: int = 24) -> None:
        self.lab = lab
        self.name = name
        self.address = address
        self.prefix_len = prefix_len
        self.ns = "%s%s-%s" % (PREFIX, lab.tag, name)
        self.dir = os.path.join(lab.dir, name)
        self.run_dir = os.path.join(self.dir, "run")
        self.db = "unix:" + os.path.join(self.run_dir, "db.sock")
        self.env = dict(
            os.environ,
            OVS_RUNDIR=self.run_dir,
            OVS_DBDIR=os.path.join(self.dir, "db"),
            OVS_LOGDIR=os.path.join(self.dir, "log"),
        )

    # ------------------------------------------------------------------ daemons

    def _pidfile(self, daemon: str) -> str:
        return os.path.join(self.run_dir, daemon + ".pid")

    def start(self) -> None:
        for sub in ("run", "db", "log"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        _run(["ip", "netns", "add", self.ns])
        _run(["ip", "-n", self.ns, "link", "set", "dev", "lo", "up"])
        veth = "u-%s-%s" % (self.lab.tag, self.name)
        _run(
            [
                "ip",
                "link",
                "add",
                "name",
                veth[:15],
                "netns",
                self.lab.underlay_ns,
                "type",
                "veth",
                "peer",
                "name",
                "eth-u",
                "netns",
                self.ns,
            ]
        )
        _run(["ip", "-n", self.lab.underlay_ns, "link", "set", "dev", veth[:15], "master", "ulbr", "up"])
        _run(["ip", "-n", self.ns, "link", "set", "dev", "eth-u", "up"])
        conf = os.path.join(self.dir, "db", "conf.db")
        _run(["ovsdb-tool", "create", conf, SCHEMA])
        self.start_ovsdb()
        _run(["ovs-vsctl", "--db=" + self.db, "--no-wait", "init"])
        self.start_vswitchd()

    def start_ovsdb(self) -> None:
        conf = os.path.join(self.dir, "db", "conf.db")
        _run(
            [
                "ip",
                "netns",
                "exec",
                self.ns,
                "ovsdb-server",
                conf,
                "--remote=punix:" + self.db[5:],
                "--pidfile=" + self._pidfile("ovsdb-server"),
                "--unixctl=" + os.path.join(self.run_dir, "ovsdb.ctl"),
                "-vconsole:off",
                "--log-file=" + os.path.join(self.dir, "log", "ovsdb-server.log"),
                "--detach",
                "--no-chdir",
            ],
            env=self.env,
        )

    def start_vswitchd(self) -> None:
        _run(
            [
                "ip",
                "netns",
                "exec",
                self.ns,
                "ovs-vswitchd",
                self.db,
                "--pidfile=" + self._pidfile("ovs-vswitchd"),
                "--unixctl=" + os.path.join(self.run_dir, "ovs-vswitchd.ctl"),
                "-vconsole:off",
                "--log-file=" + os.path.join(self.dir, "log", "ovs-vswitchd.log"),
                "--detach",
                "--no-chdir",
            ],
            env=self.env,
        )

    def stop_daemon(self, daemon: str) -> None:
        pid = _read_pid(self._pidfile(daemon))
        if pid is None or not _alive(pid):
            return
        os.kill(pid, 15)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, 9)

    def restart_vswitchd(self) -> None:
        self.stop_daemon("ovs-vswitchd")
        self.start_vswitchd()

    def stop(self) -> None:
        self.stop_daemon("ovs-vswitchd")
        self.stop_daemon("ovsdb-server")
        _run(["ip", "netns", "del", self.ns], check=False)

    # ------------------------------------------------------------------ tools

    def vsctl(self, *args: str) -> str:
        return _run(["ovs-vsctl", "--db=" + self.db, *args], env=self.env).stdout

    def ofctl(self, *args: str) -> str:
        return _run(["ovs-ofctl", *args], env=self.env).stdout

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run(["ip", "-n", self.ns, *args], check=check)

    def nsexec(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run(["ip", "netns", "exec", self.ns, *args], check=check, env=self.env)

    def underlay_bridge(self, datapath_type: str = "netdev") -> None:
        """br-phy owning eth-u with the underlay address on it (what roles/hypervisor does)."""
        mac = self.nsexec("cat", "/sys/class/net/eth-u/address").stdout.strip()
        self.vsctl(
            "--may-exist",
            "add-br",
            "br-phy",
            "--",
            "set",
            "bridge",
            "br-phy",
            "datapath_type=" + datapath_type,
            'other_config:hwaddr="%s"' % mac,
            "--",
            "--may-exist",
            "add-port",
            "br-phy",
            "eth-u",
        )
        self.ip("addr", "replace", "%s/%d" % (self.address, self.prefix_len), "dev", "br-phy")
        self.ip("link", "set", "dev", "br-phy", "up")

    def integration_bridge(self, datapath_type: str = "netdev") -> None:
        self.vsctl(
            "--may-exist",
            "add-br",
            "br-int",
            "--",
            "set",
            "bridge",
            "br-int",
            "datapath_type=" + datapath_type,
            "fail_mode=standalone",
        )
        self.ip("link", "set", "dev", "br-int", "up")

    def guest(self, name: str, tag: int, address: str, mtu: int = 1450) -> str:
        """A stand-in guest: namespace <self.ns>-<name>, eth0 with address (CIDR), veth t-<name> on br-int."""
        ns = "%s-%s" % (self.ns, name)
        port = ("t" + name)[:15]
        _run(["ip", "netns", "add", ns])
        self.ip("link", "add", "name", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _run(["ip", "-n", ns, "link", "set", "dev", "eth0", "mtu", str(mtu)])
        _run(["ip", "-n", ns, "addr", "add", address, "dev", "eth0"])
        _run(["ip", "-n", ns, "link", "set", "dev", "eth0", "up"])
        _run(["ip", "-n", ns, "link", "set", "dev", "lo", "up"])
        self.ip("link", "set", "dev", port, "up")
        _run(["ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "tx", "off"], check=False)
        self.vsctl("--may-exist", "add-port", "br-int", port, "tag=%d" % tag)
        self.lab.guest_namespaces.append(ns)
        return ns


class NsOvsLab:
    """A set of NsOvsHost on one underlay (a Linux bridge in namespace ovslab-<tag>-ul)."""

    def __init__(self, tag: str | None = None) -> None:
        self.tag = tag or ("%x" % (os.getpid() % 0xFFFF))
        self.dir = tempfile.mkdtemp(prefix="ovslab-")
        self.underlay_ns = "%s%s-ul" % (PREFIX, self.tag)
        self.hosts: list[NsOvsHost] = []
        self.guest_namespaces: list[str] = []

    def __enter__(self) -> NsOvsLab:
        _run(["ip", "netns", "add", self.underlay_ns])
        _run(["ip", "-n", self.underlay_ns, "link", "add", "name", "ulbr", "type", "bridge"])
        _run(["ip", "-n", self.underlay_ns, "link", "set", "dev", "ulbr", "up"])
        return self

    def host(self, name: str, address: str) -> NsOvsHost:
        host = NsOvsHost(self, name, address)
        self.hosts.append(host)
        host.start()
        return host

    def __exit__(self, *exc: object) -> None:
        for host in self.hosts:
            host.stop()
        for ns in self.guest_namespaces:
            _run(["ip", "netns", "del", ns], check=False)
        _run(["ip", "netns", "del", self.underlay_ns], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
