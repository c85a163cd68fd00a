"""Benchmark: the lab cloud of 5,000 VMs on 16 nodes, inventoried by ironcloud.stack.cloud and community.proxmox.

In one run and on the same state of the lab's fake Proxmox API (tests/lab/pve, VMs and nodes added directly
through its control socket with populate()):

* ironcloud.stack.cloud (one GET /cluster/resources);
* community.proxmox.proxmox (the version in the `ansible` bundle of the venv) with want_facts false, then true
  (with facts it asks status, config and snapshots of every VM, one after the other).

* the floor: ansible-core's own cost, `ansible-inventory --list` of a static YAML inventory holding the same host
  names (those ironcloud.stack.cloud listed) and no variables.

Each is one `ansible-inventory --list`. The benchmark starts a private instance of the lab's fake (same code,
same CA and certificate, its own port on the lab's address, its own request log and control socket) and stops
it at the end, so the 5,000 VMs never show up in other tests' inventories and the request log holds only the
benchmark's requests: requests are counted from that log. community.proxmox verifies TLS with requests' default
CA bundle, so REQUESTS_CA_BUNDLE is set to the lab CA for it. It prints requests, wall time, hosts and the ratios
(to ironcloud.stack.cloud and to the floor), and writes them to bench/results/inventory.json (keys vms,
ours_requests, ours_s, peer_facts_s, peer_nofacts_s, floor_s, and every run under results). The goals: ours no
slower than community.proxmox without facts, and within 1.5x of the floor.

Usage: .venv/bin/python bench/bench_inventory.py [--vms 5000] [--nodes 16] [--skip-facts]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "pve"))

from benchlib import lab_env, write_results  # noqa: E402
from client import LabPveControl  # noqa: E402

PREFIX = "icbench-"
FIRST_VMID = 890000
USER = "root@pam"
TOKEN_NAME = "icbench"
SERVE = os.path.join(ROOT, "tests", "lab", "pve", "serve.py")
FLOOR = "floor: static inventory, same hosts, no variables"


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_fake(lab: dict[str, str], workdir: str) -> Iterator[dict[str, Any]]:
    """The lab's fake Proxmox API as a process of this benchmark, on a port of its own; stopped at the end."""
    host = lab["PROXMOX_HOST"]
    port = free_port(host)
    with open(os.path.join(ROOT, "tests", "lab", "lab.yml"), encoding="utf-8") as f:
        config = yaml.safe_load(f)
    config["proxmox"].update(port=port, token_name=TOKEN_NAME, time_scale=0)
    state = os.path.join(workdir, "pve")
    os.makedirs(state, mode=0o700)
    config_path = os.path.join(workdir, "lab.yml")
    with open(config_path, "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f)
    secret = str(uuid.uuid4())
    with open(os.path.join(state, "secrets.json"), "w", encoding="utf-8") as f:
        json.dump({"password": secrets.token_urlsafe(18), "token_secret": secret}, f)
    pki = os.path.dirname(lab["PROXMOX_CA_PATH"])
    log = open(os.path.join(workdir, "pve.log"), "ab")  # noqa: SIM115 - the server's output while it runs
    proc = subprocess.Popen(
        [
            sys.executable,
            SERVE,
            "--state-dir",
            state,
            "--config",
            config_path,
            "--cert",
            os.path.join(pki, "pve.crt"),
            "--key",
            os.path.join(pki, "pve.key"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        ctx = ssl.create_default_context(cafile=lab["PROXMOX_CA_PATH"])
        deadline = time.monotonic() + 30
        while True:
            try:
                with (
                    socket.create_connection((host, port), timeout=1) as sock,
                    ctx.wrap_socket(sock, server_hostname=host),
                ):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit("the private lab fake did not start; see %s" % os.path.join(workdir, "pve.log"))
                time.sleep(0.2)
        yield {
            "host": host,
            "port": port,
            "token_id": "%s!%s" % (USER, TOKEN_NAME),
            "secret": secret,
            "control": LabPveControl(os.path.join(state, "control.sock")),
            "log": os.path.join(state, "requests.jsonl"),
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def log_entries(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        return sum(1 for line in f if line)


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The requests of one run and the shortest wall time of several runs of one inventory."""
    best = dict(min(runs, key=lambda r: r["wall_s"]))
    best["wall_s_runs"] = [r["wall_s"] for r in runs]
    return best


def run_once(
    label: str, config: str, plugin: str, env: dict[str, str], log: str, workdir: str, suffix: str
) -> dict[str, Any]:
    path = os.path.join(workdir, "%s.%s" % (re.sub(r"[^A-Za-z0-9]+", "_", label), suffix))
    with open(path, "w", encoding="utf-8") as f:
        f.write(config)
    env = dict(env, ANSIBLE_INVENTORY_ENABLED=plugin, ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
    before = log_entries(log)
    began = time.monotonic()
    result = subprocess.run(
        [os.path.join(ROOT, ".venv", "bin", "ansible-inventory"), "-i", path, "--list"],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=3600,
        check=False,
    )
    wall = time.monotonic() - began
    if result.returncode != 0:
        sys.exit("%s failed:\n%s" % (label, result.stderr[-3000:]))
    data = json.loads(result.stdout)
    hosts = set(data["_meta"]["hostvars"])
    for name, group in data.items():
        if name != "_meta":
            hosts.update(group.get("hosts", []))
    return {
        "label": label,
        "hosts_listed": sorted(hosts),
        "requests": log_entries(log) - before,
        "wall_s": round(wall, 2),
        "hosts": len(hosts),
        "bench_vms": sum(1 for h in hosts if h.startswith(PREFIX)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", maxsplit=1)[0])
    parser.add_argument("--vms", type=int, default=5000)
    parser.add_argument("--nodes", type=int, default=16)
    parser.add_argument("--skip-facts", action="store_true", help="leave out community.proxmox want_facts: true")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each quick inventory (the shortest counts); want_facts: true runs once",
    )
    args = parser.parse_args()

    lab = lab_env()
    nodes = ["icbench%02d" % i for i in range(1, args.nodes + 1)]
    with tempfile.TemporaryDirectory() as workdir, private_fake(lab, workdir) as pve:
        pve["control"].call("populate", args.vms, nodes, prefix=PREFIX, first_vmid=FIRST_VMID)
        base = dict(os.environ)
        base.update(lab)
        base.update(
            ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
            ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
            PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + base.get("PATH", ""),
            PROXMOX_HOST=pve["host"],
            PROXMOX_PORT=str(pve["port"]),
            PROXMOX_TOKEN_ID=pve["token_id"],
            PROXMOX_TOKEN_SECRET=pve["secret"],
        )
        base.pop("IRONCLOUD_STATE_STORE", None)
        community = (
            "plugin: community.proxmox.proxmox\nurl: https://%s:%d\nuser: %s\ntoken_id: %s\n"
            "token_secret: %s\nvalidate_certs: true\nwant_facts: %%s\n"
            % (pve["host"], pve["port"], USER, TOKEN_NAME, pve["secret"])
        )
        # community.proxmox verifies with requests' default bundle: point it at the lab CA.
        community_env = dict(base, REQUESTS_CA_BUNDLE=lab["PROXMOX_CA_PATH"], CURL_CA_BUNDLE=lab["PROXMOX_CA_PATH"])
        for key in ("PROXMOX_TOKEN_ID", "PROXMOX_TOKEN_SECRET", "PROXMOX_USER", "PROXMOX_PASSWORD", "PROXMOX_URL"):
            community_env.pop(key, None)
        # (label, config, plugin, environment, file name suffix); the floor's file is written after the first run
        quick = [
            ("ironcloud.stack.cloud", "plugin: ironcloud.stack.cloud\n", "ironcloud.stack.cloud", base, "cloud.yml"),
            (
                "community.proxmox want_facts=false",
                community % "false",
                "community.proxmox.proxmox",
                community_env,
                "proxmox.yml",
            ),
            (FLOOR, "", "yaml", base, "floor.yml"),
        ]
        # Round after round, each quick inventory once: a drift of the machine's speed hits all of them alike.
        runs: dict[str, list[dict[str, Any]]] = {}
        for _round in range(max(1, args.repeat)):
            for label, config, plugin, env, suffix in quick:
                if label == FLOOR:
                    config = yaml.safe_dump(
                        {"all": {"hosts": dict.fromkeys(runs["ironcloud.stack.cloud"][0]["hosts_listed"])}}
                    )
                runs.setdefault(label, []).append(run_once(label, config, plugin, env, pve["log"], workdir, suffix))
        results = [best_of(runs[label]) for label, *_rest in quick]
        if not args.skip_facts:
            results.insert(
                2,
                run_once(
                    "community.proxmox want_facts=true",
                    community % "true",
                    "community.proxmox.proxmox",
                    community_env,
                    pve["log"],
                    workdir,
                    "proxmox.yml",
                ),
            )

    for r in results:
        r.pop("hosts_listed", None)
    ours, floor = results[0], results[-1]
    by_label = {r["label"].split(":")[0]: r for r in results}
    print(
        "Inventory of %d VMs on %d nodes (plus the lab config's %d nodes), one ansible-inventory --list each, "
        "on a private instance of the lab's fake Proxmox API" % (args.vms, args.nodes, 3)
    )
    print(
        "(wall time: the shortest of %d runs, one run with facts; load average %.1f on %d CPUs)"
        % (args.repeat, os.getloadavg()[0], os.cpu_count() or 1)
    )
    print(
        "%-50s %9s %9s %7s %9s %11s %9s %9s"
        % ("plugin", "requests", "wall s", "hosts", "bench VMs", "x requests", "x wall", "x floor")
    )
    for r in results:
        r["requests_ratio"] = round(r["requests"] / max(1, ours["requests"]), 1)
        r["wall_ratio"] = round(r["wall_s"] / max(0.01, ours["wall_s"]), 2)
        r["floor_ratio"] = round(r["wall_s"] / max(0.01, floor["wall_s"]), 2)
        print(
            "%-50s %9d %9.2f %7d %9d %11.1f %9.2f %9.2f"
            % (
                r["label"],
                r["requests"],
                r["wall_s"],
                r["hosts"],
                r["bench_vms"],
                r["requests_ratio"],
                r["wall_ratio"],
                r["floor_ratio"],
            )
        )
    nofacts = by_label["community.proxmox want_facts=false"]
    facts = by_label.get("community.proxmox want_facts=true")
    goals = {
        "no_slower_than_peer_nofacts": ours["wall_s"] <= nofacts["wall_s"],
        "within_1_5x_floor": ours["wall_s"] <= 1.5 * floor["wall_s"],
    }
    print(
        "goals: ours / community.proxmox without facts = %.2f (<= 1), ours / floor = %.2f (<= 1.5): %s"
        % (
            ours["wall_s"] / max(0.01, nofacts["wall_s"]),
            ours["floor_ratio"],
            "met" if all(goals.values()) else "NOT met",
        )
    )
    write_results(
        "inventory",
        {
            "vms": args.vms,
            "nodes": args.nodes,
            "repeat": args.repeat,
            "ours_requests": ours["requests"],
            "ours_s": ours["wall_s"],
            "peer_nofacts_requests": nofacts["requests"],
            "peer_nofacts_s": nofacts["wall_s"],
            "peer_facts_requests": facts["requests"] if facts else None,
            "peer_facts_s": facts["wall_s"] if facts else None,
            "floor_s": floor["wall_s"],
            "ours_over_peer_nofacts": round(ours["wall_s"] / max(0.01, nofacts["wall_s"]), 2),
            "ours_over_floor": ours["floor_ratio"],
            "goals": goals,
            "load_average": round(os.getloadavg()[0], 1),
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
