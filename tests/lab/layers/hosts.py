"""The lab's hypervisor hosts: rootful podman containers pve1..pve3 (systemd + Open vSwitch, userspace datapath).

Each host runs systemd as PID 1 and its own ovsdb-server/ovs-vswitchd on the container's own default
paths (/run/openvswitch, /etc/openvswitch inside the container), so `ovs-vsctl show` works inside it.
There is no openvswitch kernel module on the lab machines: bridges use `datapath_type=netdev`.

Every host sits on two internal podman networks (no NAT, no way out):
- `ironcloud-lab`, the management network (Ansible reaches the hosts through the podman connection);
- `ironcloud-underlay`, the VXLAN underlay the network layer uses, with a fixed address per host.

The image `localhost/ironcloud-hypervisor:bookworm` is built once per machine and kept by `down`:
a debootstrapped Debian 12 minbase rootfs (tarball cached in /var/cache/ironcloud-lab, shared by every
checkout on the machine), imported as `localhost/ironcloud-hypervisor-base:bookworm`, plus
tests/lab/hosts/Containerfile. The image carries a hash of its inputs as a label: a changed Containerfile
rebuilds it (from the cached rootfs), an unchanged one is reused as is.

Extra hosts (e.g. `pve4` for "a fourth hypervisor joins") come and go with `add_host` / `remove_host`.
Recipe and pitfalls: tests/lab/README.md.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any, Self

from .base import ROOT, Lab, Layer, run, write_private

IMAGE = "localhost/ironcloud-hypervisor:bookworm"
BASE_IMAGE = "localhost/ironcloud-hypervisor-base:bookworm"
# The stand-in guest systems of the lab's Proxmox API (tests/lab/pve/guests.py): the same cached rootfs plus
# tests/lab/guest/Containerfile (systemd, sshd, cloud-init).
GUEST_IMAGE = "localhost/ironcloud-guest:bookworm"
SUITE = "bookworm"
INCLUDE = ("python3", "iproute2", "iputils-ping", "procps", "sudo")
CONTEXT = os.path.join(ROOT, "tests", "lab", "hosts")
GUEST_CONTEXT = os.path.join(ROOT, "tests", "lab", "guest")
CACHE_DIR = os.environ.get("IRONCLOUD_LAB_CACHE", "/var/cache/ironcloud-lab")
APT_DIR = "/etc/apt"
IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"
# Every podman object this layer creates carries this label (value: the checkout), and `down` and `up`
# refuse to touch a container or network of the same name without it.
LABEL = "io.ironcloud.lab.hosts"
CONTEXT_LABEL = "io.ironcloud.lab.context"
MGMT_IFACE = "eth0"
UNDERLAY_IFACE = "eth1"
BOOT_TIMEOUT = 90.0
OVS_TIMEOUT = 30.0


# ---------------------------------------------------------------- podman


def podman(*args: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
    return run(["podman", *args], check=check, timeout=timeout)


def podman_json(*args: str) -> Any:
    return json.loads(podman(*args).stdout or "null")


def exec_in(name: str, *argv: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run a command inside a host container; never raises on a non-zero exit."""
    return podman("exec", name, *argv, check=False, timeout=timeout)


def container_labels(name: str) -> dict[str, str] | None:
    """The labels of container name, or None when there is no such container."""
    result = podman("container", "inspect", "--format", "{{json .Config.Labels}}", name, check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout.strip() or "null") or {}


def container_running(name: str) -> bool:
    result = podman("container", "inspect", "--format", "{{.State.Running}}", name, check=False)
    return result.returncode == 0 and result.stdout.strip() == "true"


def network_info(name: str) -> dict[str, Any] | None:
    result = podman("network", "inspect", name, check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)[0]


def require_ours(kind: str, name: str, labels: dict[str, str] | None) -> None:
    if labels is not None and labels.get(LABEL) != ROOT:
        raise RuntimeError(
            f"lab hosts: a podman {kind} named {name!r} exists but was not created by this lab ({ROOT}); "
            "remove or rename it"
        )


# ---------------------------------------------------------------- image: rootfs and build


def debian_mirror(apt_dir: str = APT_DIR) -> tuple[str, str]:
    """(mirror URI, apt sources text for the image) from the machine's own apt configuration.

    Only the Debian suites of SUITE (bookworm, -updates, -security) are kept: other repositories may need
    keys the image does not have.
    """
    deb822 = os.path.join(apt_dir, "sources.list.d", "debian.sources")
    if os.path.exists(deb822):
        with open(deb822, encoding="utf-8") as f:
            stanzas = [s for s in _deb822_stanzas(f.read()) if _is_debian_stanza(s)]
        if stanzas:
            mirror = next(_field(s, "URIs").split()[0] for s in stanzas if SUITE in _field(s, "Suites").split())
            return mirror, "\n\n".join(stanzas) + "\n"
    legacy = os.path.join(apt_dir, "sources.list")
    if os.path.exists(legacy):
        with open(legacy, encoding="utf-8") as f:
            lines = [line.strip() for line in f if _is_debian_line(line)]
        if lines:
            mirror = next(_line_uri(line) for line in lines if _line_words(line)[2] == SUITE)
            return mirror, "\n".join(lines) + "\n"
    raise RuntimeError(
        f"lab hosts: no Debian {SUITE} mirror in {apt_dir}/sources.list.d/debian.sources or sources.list"
    )


def _deb822_stanzas(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [s.strip() for s in "\n".join(lines).split("\n\n") if s.strip()]


def _field(stanza: str, key: str) -> str:
    match = re.search(rf"^{re.escape(key)}:\s*(.*)$", stanza, re.MULTILINE | re.IGNORECASE)
    return match.group(1).strip() if match else ""


def _is_debian_stanza(stanza: str) -> bool:
    suites = _field(stanza, "Suites").split()
    enabled = _field(stanza, "Enabled").lower() != "no"
    return (
        enabled
        and "deb" in _field(stanza, "Types").split()
        and bool(suites)
        and all(s.startswith(SUITE) for s in suites)
    )


def _line_words(line: str) -> list[str]:
    return re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()


def _line_uri(line: str) -> str:
    return _line_words(line)[1]


def _is_debian_line(line: str) -> bool:
    words = _line_words(line)
    return len(words) >= 3 and words[0] == "deb" and words[2].startswith(SUITE)


def apt_settings() -> str:
    """The machine's apt settings the image needs too: proxies and an ignored Valid-Until (snapshot mirrors)."""
    dump = run(["apt-config", "dump"], check=False).stdout
    keep = re.compile(r'^Acquire::(Check-Valid-Until|https?::Proxy(::[^ ]+)?) "[^"]*";$')
    return "".join(line + "\n" for line in dump.splitlines() if keep.match(line))


def rootfs_tarball(mirror_sources: str) -> str:
    """The path of the cached rootfs tarball for the current inputs (it may not exist yet)."""
    key = hashlib.sha256(f"{SUITE}|{','.join(INCLUDE)}|{mirror_sources}".encode()).hexdigest()[:12]
    return os.path.join(CACHE_DIR, f"debian-{SUITE}-minbase-{key}.tar")


def build_rootfs(tarball: str, mirror: str, sources: str, settings: str) -> None:
    """debootstrap a minbase rootfs with the machine's apt sources and pack it as tarball (about 60 s)."""
    work = tarball + ".d"
    shutil.rmtree(work, ignore_errors=True)
    try:
        run(["debootstrap", "--variant=minbase", "--include=" + ",".join(INCLUDE), SUITE, work, mirror])
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in os.listdir(os.path.join(work, junk)):
                path = os.path.join(work, junk, entry)
                if os.path.isfile(path):
                    os.unlink(path)
        os.unlink(os.path.join(work, "etc", "apt", "sources.list"))
        with open(os.path.join(work, "etc", "apt", "sources.list.d", "debian.sources"), "w", encoding="utf-8") as f:
            f.write(sources)
        if settings:
            with open(os.path.join(work, "etc", "apt", "apt.conf.d", "90ironcloud-lab"), "w", encoding="utf-8") as f:
                f.write(settings)
        run(["tar", "--numeric-owner", "-C", work, "-cf", tarball + ".tmp", "."])
        os.replace(tarball + ".tmp", tarball)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if os.path.exists(tarball + ".tmp"):
            os.unlink(tarball + ".tmp")


def context_hash(tarball: str, context: str = CONTEXT) -> str:
    """A hash of everything an image is built from: the rootfs inputs and the files in its context directory."""
    digest = hashlib.sha256(os.path.basename(tarball).encode())
    for base, dirs, files in sorted(os.walk(context)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(base, name)
            digest.update(os.path.relpath(path, context).encode() + b"\0")
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()[:16]


def image_label(image: str, label: str) -> str | None:
    """The value of label on image, "" if unset, None if there is no such image."""
    result = podman("image", "inspect", "--format", "{{json .Labels}}", image, check=False)
    if result.returncode != 0:
        return None
    return (json.loads(result.stdout.strip() or "null") or {}).get(label, "")


class CacheLock:
    """An exclusive lock on the machine-wide cache, so two checkouts never build at the same time."""

    def __enter__(self) -> Self:
        os.makedirs(CACHE_DIR, exist_ok=True)
        self.fd = os.open(os.path.join(CACHE_DIR, "build.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def ensure_image() -> str:
    """Build localhost/ironcloud-hypervisor:bookworm unless podman already has it for the same inputs."""
    return _ensure_layered(IMAGE, CONTEXT)


def ensure_guest_image() -> str:
    """Build localhost/ironcloud-guest:bookworm (the lab's guest systems) unless podman has it for the same inputs."""
    return _ensure_layered(GUEST_IMAGE, GUEST_CONTEXT)


def _ensure_layered(image: str, context: str) -> str:
    """Build image from context/Containerfile on the cached rootfs, unless it carries the same inputs' hash."""
    mirror, sources = debian_mirror()
    tarball = rootfs_tarball(sources)
    wanted = context_hash(tarball, context)
    if image_label(image, CONTEXT_LABEL) == wanted:
        return image
    with CacheLock():
        if image_label(image, CONTEXT_LABEL) == wanted:
            return image
        if image_label(BASE_IMAGE, CONTEXT_LABEL) != os.path.basename(tarball):
            if not os.path.exists(tarball):
                print(f"lab: hosts: debootstrap {SUITE} from {mirror} (cached in {CACHE_DIR})", flush=True)
                build_rootfs(tarball, mirror, sources, apt_settings())
            podman(
                "import",
                "--change",
                'CMD ["/sbin/init"]',
                "--change",
                f"LABEL {CONTEXT_LABEL}={os.path.basename(tarball)}",
                tarball,
                BASE_IMAGE,
            )
        print(f"lab: hosts: podman build {image}", flush=True)
        old = image_id(image)
        podman(
            "build",
            "-q",
            "--build-arg",
            "BASE=" + BASE_IMAGE,
            "--label",
            f"{CONTEXT_LABEL}={wanted}",
            "-t",
            image,
            "-f",
            os.path.join(context, "Containerfile"),
            context,
        )
        if old and old != image_id(image):
            podman("image", "rm", old, check=False)  # the outdated build, unless a container still uses it
    return image


def image_id(image: str) -> str:
    return podman("image", "inspect", "--format", "{{.Id}}", image, check=False).stdout.strip()


# ---------------------------------------------------------------- config and state


def node_plan(lab: Lab) -> dict[str, str]:
    """name -> underlay address of the configured hosts; the names must be the proxmox.nodes keys."""
    cfg = lab.config["hosts"]
    nodes = {name: str((spec or {})["underlay_ip"]) for name, spec in cfg["nodes"].items()}
    pve_nodes = set(lab.config.get("proxmox", {}).get("nodes", {}))
    if pve_nodes and set(nodes) != pve_nodes:
        raise RuntimeError(f"lab.yml: hosts.nodes {sorted(nodes)} must be the proxmox.nodes {sorted(pve_nodes)}")
    subnet = ipaddress.ip_network(cfg["underlay"]["subnet"])
    for name, address in nodes.items():
        if ipaddress.ip_address(address) not in subnet:
            raise RuntimeError(f"lab.yml: hosts.nodes.{name}.underlay_ip {address} is outside {subnet}")
    return nodes


def networks(lab: Lab) -> dict[str, dict[str, Any]]:
    """role ("management", "underlay") -> {name, subnet, mtu} from lab.yml's hosts: key."""
    cfg = lab.config["hosts"]
    return {
        role: {"name": cfg[role]["network"], "subnet": cfg[role]["subnet"], "mtu": int(cfg[role].get("mtu", 1500))}
        for role in ("management", "underlay")
    }


class State:
    """The layer's own state in .lab/hosts/state.json: ip_forward before `up`, the extra hosts."""

    def __init__(self, lab: Lab) -> None:
        self.path = os.path.join(lab.dir, "hosts", "state.json")
        self.data: dict[str, Any] = {"extra": {}}
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                self.data.update(json.load(f))

    @property
    def extra(self) -> dict[str, str]:
        return self.data["extra"]

    def save(self) -> None:
        write_private(self.path, json.dumps(self.data, indent=2, sort_keys=True))


def read_ip_forward() -> str:
    with open(IP_FORWARD, encoding="utf-8") as f:
        return f.read().strip()


def write_ip_forward(value: str) -> None:
    with open(IP_FORWARD, "w", encoding="utf-8") as f:
        f.write(value + "\n")


# ---------------------------------------------------------------- networks


def used_subnets() -> Iterator[tuple[str, ipaddress.IPv4Network]]:
    """(owner, subnet) of every IPv4 route of the machine and every podman network."""
    routes = run(["ip", "-4", "-j", "route", "show", "table", "all"], check=False).stdout or "[]"
    for route in json.loads(routes):
        dst = route.get("dst", "")
        if dst not in ("default", "") and not dst.startswith(("127.", "255.")) and route.get("type") != "broadcast":
            yield f"route via {route.get('dev', '?')}", ipaddress.ip_network(dst, strict=False)
    for net in podman_json("network", "ls", "--format", "json") or []:
        for sub in net.get("subnets") or []:
            yield f"podman network {net['name']}", ipaddress.ip_network(sub["subnet"], strict=False)


def ensure_network(name: str, subnet: str, mtu: int, ours: list[str]) -> None:
    info = network_info(name)
    if info is not None:
        require_ours("network", name, info.get("labels") or {})
        return
    wanted = ipaddress.ip_network(subnet)
    for owner, other in used_subnets():
        if other.overlaps(wanted) and not any(owner == f"podman network {n}" for n in ours):
            raise RuntimeError(
                f"lab hosts: subnet {subnet} for {name} overlaps {other} ({owner}); change it in tests/lab/lab.yml "
                "(hosts:)"
            )
    podman(
        "network",
        "create",
        "--internal",
        "--subnet",
        subnet,
        "--opt",
        f"mtu={mtu}",
        "--label",
        f"{LABEL}={ROOT}",
        name,
    )


def remove_network(name: str) -> None:
    info = network_info(name)
    if info is None or (info.get("labels") or {}).get(LABEL) != ROOT:
        return
    podman("network", "rm", name)


# ---------------------------------------------------------------- containers


def run_host(lab: Lab, name: str, underlay_ip: str) -> None:
    """Start host container name unless it runs; a stopped one of ours is started again."""
    labels = container_labels(name)
    require_ours("container", name, labels)
    if labels is not None:
        if not container_running(name):
            podman("start", name)
        return
    nets = networks(lab)
    podman(
        "run",
        "-d",
        "--name",
        name,
        "--hostname",
        name,
        "--privileged",
        "--systemd=always",
        "--label",
        f"{LABEL}={ROOT}",
        "--network",
        f"{nets['management']['name']}:interface_name={MGMT_IFACE}",
        "--network",
        f"{nets['underlay']['name']}:ip={underlay_ip},interface_name={UNDERLAY_IFACE}",
        IMAGE,
        "/sbin/init",
    )


def wait_booted(name: str) -> None:
    """Wait for systemd in name to finish booting, then for its Open vSwitch to answer.

    `degraded` is accepted as well as `running`: in a container some units of a real machine may fail
    (nothing the lab needs; `systemctl --failed` inside the host shows which), and the lab checks what it
    needs itself: that ovsdb-server and ovs-vswitchd answer.
    """
    deadline = time.monotonic() + BOOT_TIMEOUT
    state = ""
    while time.monotonic() < deadline:
        state = exec_in(name, "systemctl", "is-system-running", "--wait", timeout=BOOT_TIMEOUT).stdout.strip()
        if state in ("running", "degraded"):
            break
        time.sleep(0.2)
    else:
        raise RuntimeError(f"lab hosts: {name} did not boot (systemctl is-system-running: {state!r})")
    deadline = time.monotonic() + OVS_TIMEOUT
    while not ovs_answers(name):
        if time.monotonic() > deadline:
            raise RuntimeError(f"lab hosts: Open vSwitch in {name} does not answer (podman exec {name} ovs-vsctl show)")
        time.sleep(0.2)


def ovs_answers(name: str) -> bool:
    """ovsdb-server answers and ovs-vswitchd is connected to it (both on the container's default paths)."""
    if exec_in(name, "ovs-vsctl", "--timeout=5", "show").returncode != 0:
        return False
    return exec_in(name, "ovs-appctl", "--timeout=5", "-t", "ovs-vswitchd", "version").returncode == 0


def underlay_facts(name: str, underlay_ip: str) -> dict[str, Any]:
    """The host's NIC on the underlay network and its MTU, read inside the host.

    Always the NIC podman attached (UNDERLAY_IFACE), never the interface that holds the address now: the
    network layer moves the address onto the br-phy bridge, which then owns the NIC.
    """
    result = exec_in(name, "ip", "-j", "link", "show", "dev", UNDERLAY_IFACE)
    if result.returncode != 0:
        raise RuntimeError(f"lab hosts: {name} has no underlay interface {UNDERLAY_IFACE}: {result.stderr.strip()}")
    link = json.loads(result.stdout)[0]
    return {"underlay_ip": underlay_ip, "underlay_interface": link["ifname"], "underlay_mtu": link["mtu"]}


def remove_container(name: str) -> None:
    labels = container_labels(name)
    if labels is not None and labels.get(LABEL) == ROOT:
        podman("rm", "-f", "-t", "0", name)


def answers(name: str) -> bool:
    return container_running(name) and exec_in(name, "true", timeout=10).returncode == 0


# ---------------------------------------------------------------- the layer


class Hosts(Layer):
    name = "hosts"

    def up(self, lab: Lab) -> None:
        state = State(lab)
        nets = networks(lab)
        names = [n["name"] for n in nets.values()]
        if "ip_forward" not in state.data and all(network_info(n) is None for n in names):
            state.data["ip_forward"] = read_ip_forward()  # before the build's NAT network and ours turn it on
            state.save()
        plan = node_plan(lab)
        ensure_image()
        ensure_guest_image()
        for net in nets.values():
            ensure_network(net["name"], net["subnet"], net["mtu"], names)
        hosts = dict(plan, **state.extra)
        for name, address in hosts.items():
            run_host(lab, name, address)
        for name in hosts:
            wait_booted(name)
        self._publish(lab, hosts)

    def down(self, lab: Lab) -> None:
        state = State(lab)
        for name in sorted(set(node_plan(lab)) | set(state.extra)):
            remove_container(name)
        for net in networks(lab).values():
            remove_network(net["name"])
        if "ip_forward" in state.data:
            write_ip_forward(state.data["ip_forward"])
        if os.path.exists(state.path):
            os.unlink(state.path)
        shutil.rmtree(os.path.dirname(state.path), ignore_errors=True)

    def status(self, lab: Lab) -> dict[str, Any]:
        hosts = dict(node_plan(lab), **State(lab).extra)
        down = [name for name in sorted(hosts) if not answers(name)]
        return {
            "up": not down,
            "hosts": ",".join(sorted(hosts)),
            "down": ",".join(down) or "-",
            "image": IMAGE,
            "guest_image": GUEST_IMAGE if image_label(GUEST_IMAGE, CONTEXT_LABEL) else "-",
        }

    # ------------------------------------------------------------ extra hosts

    def add_host(self, lab: Lab, name: str, underlay_ip: str | None = None) -> dict[str, Any]:
        """Start one more hypervisor (e.g. pve4) on both networks and publish it; returns its host vars.

        Its underlay address is underlay_ip or the next free one after the configured hosts'. The lab's
        state and inventory are written, so ansible-playbook sees the host at once.
        """
        state = State(lab)
        hosts = dict(node_plan(lab), **state.extra)
        address = hosts.get(name) or underlay_ip or self._next_address(lab, hosts)
        state.extra[name] = address
        state.save()
        run_host(lab, name, address)
        wait_booted(name)
        hosts[name] = address
        self._publish(lab, hosts)
        lab.save()
        lab.write_outputs()
        return underlay_facts(name, address)

    def remove_host(self, lab: Lab, name: str) -> None:
        """Remove an extra hypervisor added with add_host (configured hosts stay) and unpublish it."""
        state = State(lab)
        if name not in state.extra:
            raise ValueError(f"lab hosts: {name} is not an extra host (extra: {sorted(state.extra) or 'none'})")
        remove_container(name)
        del state.extra[name]
        state.save()
        self._publish(lab, dict(node_plan(lab), **state.extra))
        lab.save()
        lab.write_outputs()

    def _next_address(self, lab: Lab, hosts: dict[str, str]) -> str:
        subnet = ipaddress.ip_network(lab.config["hosts"]["underlay"]["subnet"])
        taken = {ipaddress.ip_address(a) for a in hosts.values()}
        start = max(taken) + 1 if taken else next(subnet.hosts()) + 10
        for address in subnet.hosts():
            if address >= start and address not in taken:
                return str(address)
        raise RuntimeError(f"lab hosts: no free underlay address in {subnet}")

    # ------------------------------------------------------------ publishing

    def _publish(self, lab: Lab, hosts: dict[str, str]) -> None:
        host_vars = {name: underlay_facts(name, address) for name, address in sorted(hosts.items())}
        nets = networks(lab)
        # lab_hypervisors: only the hosts this layer runs. The cloud inventory (lab.cloud.yml) adds every node
        # of the lab's Proxmox API to hypervisors too, including nodes tests add without a container.
        inventory = {
            "all": {
                "children": {
                    "hypervisors": {
                        "hosts": host_vars,
                        "vars": {
                            "ansible_connection": "containers.podman.podman",
                            "ansible_python_interpreter": "/usr/bin/python3",
                        },
                    },
                    "lab_hypervisors": {"hosts": {name: {} for name in host_vars}},
                }
            }
        }
        env = {
            "IRONCLOUD_LAB_HYPERVISORS": ",".join(sorted(hosts)),
            "IRONCLOUD_LAB_UNDERLAY_NETWORK": nets["underlay"]["name"],
            "IRONCLOUD_LAB_UNDERLAY_SUBNET": nets["underlay"]["subnet"],
        }
        lab.publish(
            self.name,
            env=env,
            inventory=inventory,
            hosts=sorted(hosts),
            image=IMAGE,
            guest_image=GUEST_IMAGE,
            networks={role: dict(net) for role, net in nets.items()},
            underlay={name: facts["underlay_ip"] for name, facts in host_vars.items()},
        )
