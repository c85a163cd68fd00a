"""Benchmark: one host converging a 64-peer x 8-VNI mesh, ovs_overlay against the seed's way.

- ovs_overlay: one task; one ovs-vsctl transaction (64 `key=flow` tunnel ports + the patch pair) and one
  `ovs-ofctl replace-flows` (tag <-> VNI translation for 8 networks).
- the seed's way: one `ovs-vsctl --may-exist add-port ... type=vxlan options:remote_ip=... options:key=<vni>` per
  (peer, VNI), 512 ports, from an ansible.builtin.command loop (openvswitch.openvswitch is not in the `ansible`
  bundles on PyPI).

Both run in the same process run against real Open vSwitch: two OVS instances in network namespaces of this machine
(tests/lab/ovsns.py; userspace datapath, every file under a temp dir, `ovslab-` namespaces removed at the end),
each driven by ansible-playbook with a local connection. Then a no-op rerun of each. Prints the figures and
writes them to bench/results/ovs_overlay.json.

    .venv/bin/python bench/bench_ovs_overlay.py [--peers 64] [--vnis 8]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

from benchlib import write_results  # noqa: E402
from ovsns import NsOvsLab  # noqa: E402

OVERLAY_PLAY = """
- name: The mesh with ovs_overlay
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Converge the tunnel bridge
      ironcloud.stack.ovs_overlay:
        database_socket: "{{ db }}"
        local_ip: "{{ local_ip }}"
        peers: "{{ peers }}"
        networks: "{{ networks }}"
"""

SEED_PLAY = """
- name: The mesh the seed's way
  hosts: localhost
  gather_facts: false
  tasks:
    - name: One VXLAN port per peer and VNI
      ansible.builtin.command:
        argv:
          - ovs-vsctl
          - "--db={{ db }}"
          - --may-exist
          - add-port
          - br-int
          - "vx{{ item.0 }}-{{ item.1.vni }}"
          - --
          - set
          - interface
          - "vx{{ item.0 }}-{{ item.1.vni }}"
          - type=vxlan
          - "options:remote_ip={{ peers[item.0] }}"
          - "options:local_ip={{ local_ip }}"
          - "options:key={{ item.1.vni }}"
      loop: "{{ range(1, peers | length) | list | product(networks) | list }}"
"""


def playbook(text: str, extra: dict[str, Any]) -> tuple[float, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False, dir=tempfile.gettempdir()) as f:
        f.write(text)
        path = f.name
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
        ANSIBLE_NOCOLOR="1",
        PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""),
    )
    argv = [
        os.path.join(ROOT, ".venv", "bin", "ansible-playbook"),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        "ansible_python_interpreter=" + sys.executable,
        "-e",
        json.dumps(extra),
        path,
    ]
    try:
        start = time.monotonic()
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - start
    finally:
        os.unlink(path)
    if result.returncode != 0:
        raise SystemExit("bench: ansible-playbook failed:\n" + (result.stdout + result.stderr)[-4000:])
    recap = re.search(r"localhost\s+: (.*)", result.stdout)
    return elapsed, recap.group(1).strip() if recap else ""


def count_vxlan(host: Any) -> int:
    out = host.vsctl("--format=json", "--columns=name", "find", "Interface", "type=vxlan")
    return len(json.loads(out)["data"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peers", type=int, default=64)
    parser.add_argument("--vnis", type=int, default=8)
    args = parser.parse_args()
    local_ip = "198.18.0.1"
    peers: list[str] = [local_ip] + ["198.18.%d.%d" % (1 + i // 250, 1 + i % 250) for i in range(args.peers)]
    networks = [{"vni": 10000 + i, "tag": 100 + i} for i in range(args.vnis)]
    rows = []
    with NsOvsLab("bn%x" % (os.getpid() % 0xFFF)) as lab:
        ovl = lab.host("ovl", local_ip)
        seed = lab.host("seed", local_ip)
        for host in (ovl, seed):
            host.integration_bridge("netdev")
        common = {"local_ip": local_ip, "peers": peers, "networks": networks}
        t1, r1 = playbook(OVERLAY_PLAY, dict(common, db=ovl.db))
        t2, r2 = playbook(SEED_PLAY, dict(common, db=seed.db))
        t3, r3 = playbook(OVERLAY_PLAY, dict(common, db=ovl.db))
        t4, r4 = playbook(SEED_PLAY, dict(common, db=seed.db))
        flows = len(
            [
                line
                for line in ovl.ofctl(
                    "-O", "OpenFlow13", "dump-flows", "unix:%s/br-tun.mgmt" % ovl.run_dir
                ).splitlines()
                if "actions=" in line
            ]
        )
        rows = [
            ("ovs_overlay, first run", t1, "%d tunnel ports + %d flows" % (count_vxlan(ovl), flows), r1),
            ("seed (command loop), first run", t2, "%d tunnel ports" % count_vxlan(seed), r2),
            ("ovs_overlay, no-op rerun", t3, "", r3),
            ("seed (command loop), no-op rerun", t4, "", r4),
        ]
    print(
        "One host, %d peers x %d VNIs, real OVS 3.1 (userspace datapath, own netns), local connection"
        % (args.peers, args.vnis)
    )
    for name, seconds, what, recap in rows:
        print("  %-34s %8.2f s   %-30s %s" % (name, seconds, what, recap))
    print("  first run: seed / ovs_overlay = %.1fx" % (t2 / t1))
    print("  no-op rerun: seed / ovs_overlay = %.1fx (the seed reports every port changed on every run)" % (t4 / t3))
    write_results(
        "ovs_overlay",
        {
            "peers": args.peers,
            "vnis": args.vnis,
            "runs": [
                {"run": name, "seconds": round(seconds, 2), "what": what, "recap": recap}
                for name, seconds, what, recap in rows
            ],
            "first_run_ratio": round(t2 / t1, 2),
            "rerun_ratio": round(t4 / t3, 2),
        },
    )


if __name__ == "__main__":
    main()
