"""North-south in the lab: project routers, SNAT, floating IPs, DNS and the way in, end to end.

Two tenants built with the shipped playbooks from a spec file of their own (tenant.yml: the provider network and
each project's router in the state store; vm_create.yml: VMs with floating IPs and the tenant's key pair;
layers/routers.yml: the routers on the network node). Tenant A's project has a router and VMs A1 and A2 with
floating IPs (and A3 without); tenant B (VMs B1 and B2) uses the same subnet. The VMs start on the network node
(pve1); the overlay (layers/network.yml) carries both projects to the other nodes. From the controller (a machine on
the provider network) SSH reaches each VM at its floating IP with the key file cloud_vm returned; inside a VM the
provider service answers through SNAT, the project's names resolve and tenant B's VM does not answer. A floating IP
moved to another VM answers from it; released, it answers nowhere. Bad input is refused and changes nothing.

The guests keep running through moves: a live migration during a steady ping from a peer VM loses at most a few
packets and keeps the guest's boot; draining a node (node_drain.yml, issue 13) with VMs of both tenants on it moves
them all while their peers ping them, and no guest reboots.

Names start with IRONCLOUD_TEST_PREFIX (default "ns"); everything is removed at the end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab", "pve"))
import guests as lab_guests
from conftest import playbook_env

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLAYBOOKS = os.path.join(ROOT, "playbooks")

PREFIX = os.environ.get("IRONCLOUD_TEST_PREFIX", "ns")
TA, TB = PREFIX + "a", PREFIX + "b"
A1, A2, A3, B1, B2 = PREFIX + "a1", PREFIX + "a2", PREFIX + "a3", PREFIX + "b1", PREFIX + "b2"
USER = PREFIX + "user"
SUBNET = "10.78.0"  # both tenants
B1_ADDRESS = SUBNET + ".50"
DOMAIN = "lab.ironcloud"
NODE = "pve1"  # the network node
OTHER = "pve2"  # where VMs go live and come back from, over the overlay


def spec(provider: dict[str, str]) -> dict[str, Any]:
    def vm(name: str, fip: bool, **extra: Any) -> dict[str, Any]:
        network = "front" if name.startswith(TA) else "main"
        return {"name": name, "network": network, "node": NODE, "floating_ip": fip, **extra}

    return {
        "all": {
            "vars": {
                "cloud_spec_version": 1,
                "cloud_defaults": {
                    "supernet": "10.100.0.0/16",
                    "prefix_length": 24,
                    "vni_range": "5000-5999",
                    "underlay_mtu": 1500,
                    "image": "debian-12",
                    "size": "small",
                    "ciuser": USER,
                    "reservation_ttl": 600,
                    "dns_domain": DOMAIN,
                },
                "cloud_provider": provider,
                "cloud_images": {"debian-12": {"vmid": 9000, "node": "pve1"}},
                "cloud_sizes": {"small": {"cores": 1, "memory_mb": 512, "disk_gb": 4}},
                "cloud_tenants": [
                    {
                        "name": TA,
                        "quota": {"vms": 4, "networks": 1},
                        "token": True,
                        "projects": [
                            {
                                "name": "web",
                                "networks": [{"name": "front", "cidr": SUBNET + ".0/24"}],
                                "vms": [vm(A1, True), vm(A2, True), vm(A3, False)],
                                # only the role it gives A3 matters here (test_k3s.py builds clusters)
                                "k3s": {"version": "v1.31.5+k3s1", "servers": [A3]},
                            }
                        ],
                    },
                    {
                        "name": TB,
                        "quota": {"vms": 2, "networks": 1},
                        "token": True,
                        "projects": [
                            {
                                "name": "app",
                                "networks": [{"name": "main", "cidr": SUBNET + ".0/24"}],
                                "vms": [vm(B1, False, address=B1_ADDRESS), vm(B2, False)],
                            }
                        ],
                    },
                ],
            }
        }
    }


VM_LINE = re.compile(
    r"(\S+)/(\S+)/(\S+): vmid (\d+) on (\S+), address ([\d.]+)/\d+, gateway ([\d.]+), (\w+)"
    r"(?:, floating IP ([\d.]+), (\S+?))?'"
)


def run(ansible_playbook, playbook: str, *args: str) -> str:
    result = ansible_playbook(playbook, *args)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    return out


def task(ansible_playbook, tmp: str, module: str, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    """Run one module on localhost; its result (failed or not)."""
    out = os.path.join(tmp, "result-%s.json" % uuid.uuid4().hex)
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {module: args, "register": "r", "ignore_errors": True, "check_mode": check},
                {"ansible.builtin.copy": {"content": "{{ r | to_json }}", "dest": out}},
            ],
        }
    ]
    path = os.path.join(tmp, "task.yml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(play, f)
    run(ansible_playbook, path)
    with open(out, encoding="utf-8") as f:
        return json.load(f)


def ssh(key: str, address: str, command: str, user: str = USER, timeout: int = 8) -> subprocess.CompletedProcess:
    argv = ["ssh", "-i", key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR"]
    argv += ["-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=%d" % timeout, "%s@%s" % (user, address)]
    return subprocess.run(argv + [command], capture_output=True, text=True, timeout=timeout + 30, check=False)


def ssh_soon(key: str, address: str, command: str, within: float = 90) -> subprocess.CompletedProcess:
    deadline = time.monotonic() + within
    while True:
        result = ssh(key, address, command)
        if result.returncode == 0 or time.monotonic() > deadline:
            return result
        time.sleep(2)


def answers(address: str) -> bool:
    return subprocess.run(["ping", "-c", "1", "-W", "2", address], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="module")
def cloud(ansible_playbook, lab_env, lab_network, tmp_path_factory) -> Iterator[dict[str, Any]]:
    tmp = str(tmp_path_factory.mktemp("north_south"))
    creds = os.path.join(tmp, "credentials")
    provider = {
        "cidr": lab_env["IRONCLOUD_LAB_PROVIDER_CIDR"],
        "gateway": lab_env["IRONCLOUD_LAB_PROVIDER_GATEWAY"],
        "range": lab_env["IRONCLOUD_LAB_PROVIDER_POOL"],
    }
    spec_file = os.path.join(tmp, "cloud-spec.yml")
    with open(spec_file, "w", encoding="utf-8") as f:
        yaml.safe_dump(spec(provider), f)
    extra = ("-e", "cloud_spec=" + spec_file, "-e", "cloud_credentials_dir=" + creds)
    # The network node's provider bridge (site.yml's hypervisor play makes it; idempotent).
    bridge = os.path.join(tmp, "provider_bridge.yml")
    with open(bridge, "w", encoding="utf-8") as f:
        yaml.safe_dump(
            [
                {
                    "hosts": "network_nodes",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "ansible.builtin.include_role": {
                                "name": "ironcloud.stack.hypervisor",
                                "tasks_from": "network_node",
                            }
                        }
                    ],
                }
            ],
            f,
        )
    state = {"tmp": tmp, "creds": creds, "spec": spec_file, "extra": extra, "provider": provider}
    try:
        run(ansible_playbook, bridge)
        run(ansible_playbook, os.path.join(PLAYBOOKS, "tenant.yml"), *extra)
        # The overlay carries the project networks between the nodes (site.yml's network layer), so a VM migrated
        # away from the network node keeps its project and its router.
        run(ansible_playbook, os.path.join(PLAYBOOKS, "layers", "network.yml"))
        out = run(ansible_playbook, os.path.join(PLAYBOOKS, "vm_create.yml"), *extra)
        vms = {}
        for m in VM_LINE.finditer(out.replace("\n        ", " ")):
            vms[m.group(3)] = {"tenant": m.group(1), "vmid": int(m.group(4)), "address": m.group(6)}
            vms[m.group(3)].update(gateway=m.group(7), floating_ip=m.group(9), dns_name=m.group(10))
        assert set(vms) == {A1, A2, A3, B1, B2}, out[-4000:]
        state["vms"] = vms
        run(ansible_playbook, os.path.join(PLAYBOOKS, "layers", "routers.yml"), *extra)
        yield state
    finally:
        teardown(ansible_playbook, state)


def teardown(ansible_playbook, state: dict[str, Any]) -> None:
    with open(state["spec"], encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    for t in doc["all"]["vars"]["cloud_tenants"]:
        for vm in t["projects"][0]["vms"]:
            vm["state"] = "absent"
    with open(state["spec"], "w", encoding="utf-8") as f:
        yaml.safe_dump(doc, f)
    ansible_playbook(os.path.join(PLAYBOOKS, "vm_create.yml"), *state["extra"])
    for t in doc["all"]["vars"]["cloud_tenants"]:
        t["state"] = "absent"
    with open(state["spec"], "w", encoding="utf-8") as f:
        yaml.safe_dump(doc, f)
    # Routers off the node first (they are read from the spec: state absent), then out of the store.
    ansible_playbook(os.path.join(PLAYBOOKS, "layers", "routers.yml"), *state["extra"])
    ansible_playbook(os.path.join(PLAYBOOKS, "tenant.yml"), *state["extra"])


def key_of(cloud: dict[str, Any], tenant: str) -> str:
    return os.path.join(cloud["creds"], "%s_ed25519" % tenant)


def test_ssh_through_the_floating_ip(cloud):
    for name in (A1, A2):
        vm = cloud["vms"][name]
        assert vm["floating_ip"] and vm["dns_name"] == "%s.web.%s.%s" % (name, TA, DOMAIN), vm
        key = key_of(cloud, TA)
        assert oct(os.stat(key).st_mode & 0o777) == "0o600"
        result = ssh_soon(key, vm["floating_ip"], "hostname; id -un; ip -4 -o addr show dev eth0")
        assert result.returncode == 0, result.stderr
        hostname, user, addr = result.stdout.splitlines()[:3]
        assert hostname == name
        assert user == USER
        assert " %s/24 " % vm["address"] in addr, addr
    # Another tenant's key does not let anyone in.
    result = ssh(key_of(cloud, TB), cloud["vms"][A1]["floating_ip"], "true")
    assert result.returncode != 0


def test_the_cloud_inventory_logs_into_the_tenants_vms(cloud, lab_env):
    """`ansible -i <cloud inventory> tenant_<t> -m ...` reaches the tenant's VMs: ansible_host is the floating IP,
    ansible_user the cloud-init user; the spec's k3s servers are in the group k3s_server."""
    inventory = os.path.join(cloud["tmp"], "lab.cloud.yml")
    with open(inventory, "w", encoding="utf-8") as f:
        f.write("plugin: ironcloud.stack.cloud\n")
    env = playbook_env(lab_env, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_INVENTORY_ENABLED="ironcloud.stack.cloud")
    listed = subprocess.run(
        [os.path.join(ROOT, ".venv", "bin", "ansible-inventory"), "-i", inventory, "--list"],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr[-3000:]
    data = json.loads(listed.stdout, object_hook=lambda d: d.get("__ansible_unsafe", d))  # unsafe text as text
    hostvars = data["_meta"]["hostvars"]
    for name in (A1, A2):
        assert hostvars[name]["ansible_host"] == cloud["vms"][name]["floating_ip"], hostvars[name]
        assert hostvars[name]["ansible_user"] == USER, hostvars[name]
    assert A3 in data.get("k3s_server", {}).get("hosts", []), data.get("k3s_server")
    # Only the VMs with a floating IP are reachable from here; A3's address is on the project network.
    pinged = subprocess.run(
        [os.path.join(ROOT, ".venv", "bin", "ansible"), "-i", inventory, "tenant_" + TA, "--limit", "%s,%s" % (A1, A2),
         "--private-key", key_of(cloud, TA), "-m", "ansible.builtin.command", "-a", "id -un", "-o"],
        env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert pinged.returncode == 0, (pinged.stdout + pinged.stderr)[-3000:]
    for name in (A1, A2):
        assert re.search(r"^%s \| CHANGED \| rc=0 \| \(stdout\) %s$" % (name, USER), pinged.stdout, re.M), pinged.stdout


def test_certificates_of_the_vms_through_the_cloud_inventory(cloud, lab_env):
    """certs.yml (issue 14) on the tenant's VMs, reached as users reach them (the cloud inventory, SSH to the
    floating IPs): a TLS handshake from A1 to A2 verifies A2's name against the trust store certs.yml installed;
    the certificate names A2's floating IP too; a rerun changes nothing."""
    inventory = os.path.join(cloud["tmp"], "lab.cloud.yml")
    with open(inventory, "w", encoding="utf-8") as f:
        f.write("plugin: ironcloud.stack.cloud\n")
    env = playbook_env(lab_env, ANSIBLE_HOST_KEY_CHECKING="False")
    argv = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", inventory, "--private-key", key_of(cloud, TA)]
    argv += [os.path.join(PLAYBOOKS, "certs.yml"), "-e", "certs_hosts=%s:%s" % (A1, A2), "-e", "certs_domain=" + DOMAIN]
    argv += ["-e", "cloud_credentials_dir=" + cloud["creds"], "-e", "certs_k3s_hosts=%s:&k3s_server" % A1]
    argv += ["-e", "certs_install_packages=false"]  # the lab guests have them; apt would need python3-apt
    for attempt in ("first", "rerun"):
        result = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)
        out = result.stdout + result.stderr
        assert result.returncode == 0, out[-5000:]
        if attempt == "rerun":
            for name in (A1, A2):
                assert re.search(r"^%s\s+: ok=\d+\s+changed=0 " % name, out, re.M), out[-3000:]
    a2 = cloud["vms"][A2]
    base = "/etc/ssl/ironcloud/" + a2["dns_name"]
    sans = ssh_soon(key_of(cloud, TA), a2["floating_ip"], "openssl x509 -noout -ext subjectAltName -in %s.crt" % base)
    assert "DNS:" + a2["dns_name"] in sans.stdout and "IP Address:" + a2["floating_ip"] in sans.stdout, sans.stdout
    serve = (
        f"sudo -n sh -c 'nohup openssl s_server -accept 8443 -naccept 1 -cert {base}.crt -key {base}.key "
        f"-cert_chain {base}.fullchain.crt -www >/tmp/s_server.log 2>&1 &'"
    )
    assert ssh_soon(key_of(cloud, TA), a2["floating_ip"], serve).returncode == 0
    time.sleep(1)
    client = (
        "openssl s_client -connect {0}:8443 -servername {1} -verify_hostname {1} -verify_return_error "
        "</dev/null 2>&1 | grep -E '^ *Verify return code'".format(a2["address"], a2["dns_name"])
    )
    result = ssh_soon(key_of(cloud, TA), cloud["vms"][A1]["floating_ip"], client)
    assert "Verify return code: 0 (ok)" in result.stdout, (result.stdout, result.stderr)


def test_egress_through_snat(cloud, lab_env):
    vm = cloud["vms"][A1]
    host, port = lab_env["IRONCLOUD_LAB_PROVIDER_SERVICE"].split(":")
    path = "/h15-%s" % uuid.uuid4().hex
    probe = (
        "python3 -c 'import urllib.request, urllib.error\n"
        'try:\n    print(urllib.request.urlopen("http://%s:%s%s", timeout=5).status)\n'
        "except urllib.error.HTTPError as e:\n    print(e.code)'" % (host, port, path)
    )
    result = ssh_soon(key_of(cloud, TA), vm["floating_ip"], probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "404"  # the service answered (no such file)
    logs = subprocess.run(
        ["podman", "logs", "--tail", "200", "ironcloud-provider-svc"], capture_output=True, text=True, check=False
    )
    seen = [line for line in (logs.stdout + logs.stderr).splitlines() if path in line]
    assert seen, "the service never saw the request"
    # The service sees the VM's floating IP (its SNAT), never the project address.
    assert seen[-1].startswith(vm["floating_ip"] + " "), seen


def test_names_of_the_project_resolve(cloud):
    a1, a2, b1 = (cloud["vms"][n] for n in (A1, A2, B1))
    cmd = "getent ahostsv4 %s | head -n 1; getent ahostsv4 %s.app.%s.%s || echo none" % (A2, B1, TB, DOMAIN)
    result = ssh_soon(key_of(cloud, TA), a1["floating_ip"], cmd)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[0] == a2["address"], lines
    assert lines[-1] == "none", lines  # another tenant's names are not served
    assert b1["address"] == B1_ADDRESS


def test_another_tenant_is_unreachable(cloud):
    a1, a2 = cloud["vms"][A1], cloud["vms"][A2]
    cmd = "sudo -n ping -c 2 -W 1 %s >/dev/null && echo peer; sudo -n ping -c 2 -W 1 %s >/dev/null || echo isolated"
    result = ssh_soon(key_of(cloud, TA), a1["floating_ip"], cmd % (a2["address"], B1_ADDRESS))
    assert result.stdout.split() == ["peer", "isolated"], (result.stdout, result.stderr)


def test_bad_input_is_refused_and_changes_nothing(cloud, ansible_playbook):
    tmp, pool = cloud["tmp"], cloud["provider"]["range"]
    store = {"state_store": "{{ ironcloud_state_store }}"}
    a1 = cloud["vms"][A1]

    def usage() -> dict[str, Any]:
        r = task(ansible_playbook, tmp, "ironcloud.stack.cloud_usage_info", dict(store))
        return {t["name"]: t["used"] for t in r["tenants"] if t["name"] in (TA, TB)}

    before = usage()
    outside = task(
        ansible_playbook,
        tmp,
        "ironcloud.stack.cloud_floating_ip",
        dict(store, tenant=TA, project="web", vm=A3, address=SUBNET + ".9"),
    )
    assert outside.get("failed") and "address" in outside["msg"], outside
    foreign = task(
        ansible_playbook,
        tmp,
        "ironcloud.stack.cloud_floating_ip",
        dict(store, tenant=TB, project="app", vm=B1, address=a1["floating_ip"]),
    )
    assert foreign.get("failed") and a1["floating_ip"] in foreign["msg"], foreign
    router = task(
        ansible_playbook,
        tmp,
        "ironcloud.stack.cloud_router",
        dict(store, tenant=TB, project="app", name="main", networks=["main", "front"], external=True),
    )
    assert router.get("failed") and "networks" in router["msg"], router
    # An exhausted pool: a provider network of its own with one address, taken by a router of tenant B.
    small, last = PREFIX + "small", pool.split("-")[1]
    made = task(
        ansible_playbook,
        tmp,
        "ironcloud.stack.cloud_provider_network",
        dict(store, name=small, cidr=cloud["provider"]["cidr"], range="%s-%s" % (last, last)),
    )
    assert not made.get("failed"), made
    taker = dict(store, tenant=TB, project="app", name=PREFIX + "x1", external=True, provider=small)
    try:
        assert not task(ansible_playbook, tmp, "ironcloud.stack.cloud_router", taker).get("failed")
        exhausted = task(
            ansible_playbook,
            tmp,
            "ironcloud.stack.cloud_router",
            dict(store, tenant=TA, project="web", name=PREFIX + "x2", external=True, provider=small),
        )
        assert exhausted.get("failed") and small in exhausted["msg"], exhausted
    finally:
        task(ansible_playbook, tmp, "ironcloud.stack.cloud_router", dict(taker, state="absent"))
        task(ansible_playbook, tmp, "ironcloud.stack.cloud_provider_network", dict(store, name=small, state="absent"))
    assert usage() == before


def test_floating_ip_moves_and_is_released(cloud, ansible_playbook):
    tmp, extra = cloud["tmp"], cloud["extra"]
    store = {"state_store": "{{ ironcloud_state_store }}"}
    fip = cloud["vms"][A1]["floating_ip"]
    moved = task(
        ansible_playbook,
        tmp,
        "ironcloud.stack.cloud_floating_ip",
        dict(store, tenant=TA, project="web", address=fip, vm=A3),
    )
    assert not moved.get("failed") and moved["changed"] and moved["floating_ip"]["vm"] == A3, moved
    run(ansible_playbook, os.path.join(PLAYBOOKS, "layers", "routers.yml"), *extra)
    result = ssh_soon(key_of(cloud, TA), fip, "hostname")
    assert result.stdout.strip() == A3, (result.stdout, result.stderr)

    released = task(
        ansible_playbook,
        tmp,
        "ironcloud.stack.cloud_floating_ip",
        dict(store, tenant=TA, project="web", address=fip, state="absent"),
    )
    assert not released.get("failed") and released["floating_ip"] is None, released
    run(ansible_playbook, os.path.join(PLAYBOOKS, "layers", "routers.yml"), *extra)
    assert not answers(fip)
    assert ssh(key_of(cloud, TA), fip, "hostname", timeout=4).returncode != 0


# ---------------------------------------------------------------- moves of running guests

LOSS_ALLOWED = 5  # packets of a ping every 0.2 s: one second of a move


class SteadyPing:
    """A ping every 0.2 s from inside one guest to an address, until stopped; then how many were lost."""

    def __init__(self, vmid: int, address: str) -> None:
        self.vmid, self.address = vmid, address
        self.log = "/tmp/steady-ping-%s.log" % uuid.uuid4().hex[:8]
        command = "ping -n -i 0.2 %s >%s 2>&1 & echo $!" % (address, self.log)
        started = subprocess.run(
            lab_guests.exec_argv(vmid, "sh", "-c", command), capture_output=True, text=True, check=True
        )
        self.pid = started.stdout.strip()

    def stop(self) -> tuple[int, int]:
        """(sent, received) once the ping has printed its summary."""
        subprocess.run(lab_guests.exec_argv(self.vmid, "kill", "-INT", self.pid), check=False)
        deadline = time.monotonic() + 10
        while True:
            out = subprocess.run(
                lab_guests.exec_argv(self.vmid, "cat", self.log), capture_output=True, text=True, check=False
            ).stdout
            summary = re.search(r"(\d+) packets transmitted, (\d+) received", out)
            if summary or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert summary, "no ping summary from the guest of %d: %s" % (self.vmid, out[-500:])
        return int(summary.group(1)), int(summary.group(2))


def node_of(ansible_playbook, tmp: str, vmid: int) -> str:
    info = task(ansible_playbook, tmp, "ironcloud.stack.proxmox_vm_info", {"vmid": vmid, "config": False})
    assert not info.get("failed") and len(info["vms"]) == 1, info
    return str(info["vms"][0]["node"])


def migrate(ansible_playbook, tmp: str, vmid: int, target: str) -> dict[str, Any]:
    """A live migration through the module node_drain.yml uses (proxmox_vm with another node), waited for."""
    result = task(ansible_playbook, tmp, "ironcloud.stack.proxmox_vm", {"vmid": vmid, "node": target})
    assert not result.get("failed"), result
    return result


def test_live_migration_under_a_steady_ping(cloud, ansible_playbook):
    tmp = cloud["tmp"]
    a1, a2 = cloud["vms"][A1], cloud["vms"][A2]
    assert node_of(ansible_playbook, tmp, a2["vmid"]) == NODE
    boot = lab_guests.boot_id(a2["vmid"])
    ping = SteadyPing(a1["vmid"], a2["address"])
    try:
        time.sleep(2)
        assert migrate(ansible_playbook, tmp, a2["vmid"], OTHER)["changed"]
        time.sleep(2)
    finally:
        sent, received = ping.stop()
    assert sent >= 15, (sent, received)
    assert sent - received <= LOSS_ALLOWED, "%d of %d pings lost during the migration" % (sent - received, sent)
    assert node_of(ansible_playbook, tmp, a2["vmid"]) == OTHER
    assert lab_guests.boot_id(a2["vmid"]) == boot, "the guest rebooted"
    # Its floating IP still leads to it: the router on the network node reaches it over the overlay.
    result = ssh_soon(key_of(cloud, TA), a2["floating_ip"], "hostname")
    assert result.stdout.strip() == A2, (result.stdout, result.stderr)


def test_drain_keeps_the_guests_of_two_tenants_running(cloud, ansible_playbook):
    """node_drain.yml on the node that holds VMs of both tenants: every VM leaves it live, peers ping them
    throughout, nobody reboots; then the maintenance ends."""
    tmp, drained = cloud["tmp"], OTHER
    moving = {A2: A1, B1: B2}  # the VM that moves: the peer on the network node that pings it
    vms = cloud["vms"]
    for name in moving:
        if node_of(ansible_playbook, tmp, vms[name]["vmid"]) != drained:
            migrate(ansible_playbook, tmp, vms[name]["vmid"], drained)
    boots = {name: lab_guests.boot_id(vms[name]["vmid"]) for name in moving}
    pings = {name: SteadyPing(vms[peer]["vmid"], vms[name]["address"]) for name, peer in moving.items()}
    try:
        time.sleep(2)
        out = run(ansible_playbook, os.path.join(PLAYBOOKS, "node_drain.yml"), "-e", "node=" + drained)
        time.sleep(2)
    finally:
        lost = {name: ping.stop() for name, ping in pings.items()}
        ended = ansible_playbook(
            os.path.join(PLAYBOOKS, "node_drain.yml"), "-e", "node=" + drained, "-e", "state=active"
        )
    assert ended.returncode == 0, (ended.stdout + ended.stderr)[-4000:]
    for name in moving:
        sent, received = lost[name]
        assert sent >= 15 and sent - received <= LOSS_ALLOWED, "%s: %d of %d pings lost" % (name, sent - received, sent)
        assert node_of(ansible_playbook, tmp, vms[name]["vmid"]) != drained, out[-3000:]
        assert lab_guests.boot_id(vms[name]["vmid"]) == boots[name], "%s rebooted" % name
    result = ssh_soon(key_of(cloud, TA), vms[A2]["floating_ip"], "hostname")
    assert result.stdout.strip() == A2, (result.stdout, result.stderr)
