"""The lab's Ceph: a real single-node cluster (1 mon, 3 memstore OSDs, 1 mgr) bound to 127.0.0.1.

Everything lives under .lab/ceph (config, the one keyring, mon/osd/mgr data, pidfiles, logs); the
mon listens on 127.0.0.1:6791 (msgr v1) and 127.0.0.1:3302 (msgr v2), never the default ports, and
nothing is read from or written to /etc/ceph. Pitfalls: tests/lab/README.md, "Pitfalls".

Three OSDs so pools of size 1 to 3 work (`osd crush chooseleaf type = 0` spreads replicas over OSDs on
one host); the mgr is there because quota enforcement and pool stats need it. memstore keeps the data
in RAM, so a stopped cluster cannot be restarted: `up` on a dead or half-built cluster removes what is
left of it and builds a new one (about 4 s, until HEALTH_OK); `up` on a running cluster (every daemon
alive, all OSDs up and in, a mgr; health warnings left by tests are fine) leaves it alone.

The daemons are started from the venv's process but need nothing from it; the cluster set-up that
needs librados (`osd new`, waiting for health) runs in Debian's /usr/bin/python3, which has
python3-rados (the venv's Python cannot import it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from typing import Any

from .base import Lab, Layer, pid_alive, read_pid, run, stop_pid

SYSTEM_PYTHON = "/usr/bin/python3"
HOST = "127.0.0.1"
V1_PORT = 6791
V2_PORT = 3302
OSDS = 3
MON_ID = "a"
MGR_ID = "x"
MONITORS = f"[v2:{HOST}:{V2_PORT},v1:{HOST}:{V1_PORT}]"

CONF = """\
# Written by tests/lab/layers/ceph.py: the lab's throw-away cluster. Do not use for anything else.
[global]
fsid = {fsid}
mon host = {monitors}
mon initial members = {mon_id}
public network = 127.0.0.1/32
cluster network = 127.0.0.1/32
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
keyring = {dir}/keyring
run dir = {dir}/run
admin socket = {dir}/run/$cluster-$name.asok
pid file = {dir}/run/$cluster-$name.pid
log file = {dir}/log/$cluster-$name.log
crash dir = {dir}/crash
log to stderr = false
err to stderr = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool delete = true
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
mon mgr mkfs grace = 86400
mon max pg per osd = 1000
paxos propose interval = 0.05
mgr stats period = 1
mon mgr digest period = 1
mgr tick period = 1
mon tick interval = 1
osd mon shutdown timeout = 1
mgr initial modules = iostat

[mon]
mon data = {dir}/mon/$cluster-$id

[mgr]
mgr data = {dir}/mgr/$cluster-$id
mgr disabled modules = diskprediction_local restful nfs dashboard prometheus

[osd]
osd data = {dir}/osd/$cluster-$id
osd objectstore = memstore
memstore device bytes = 1073741824
osd op num shards = 1
osd op num threads per shard = 2
"""

# Runs in /usr/bin/python3 (python3-rados). argv: conf, then a JSON list of {"uuid", "secret"}:
# registers the OSDs over one connection and prints their ids as a JSON list.
OSD_NEW = r"""
import json, sys, rados
c = rados.Rados(conffile=sys.argv[1], name="client.admin",
                conf={"rados_mon_op_timeout": "30", "rados_osd_op_timeout": "30"})
c.connect(timeout=30)
ids = []
for osd in json.loads(sys.argv[2]):
    r, out, err = c.mon_command(json.dumps({"prefix": "osd new", "uuid": osd["uuid"], "format": "json"}),
                                json.dumps({"cephx_secret": osd["secret"]}).encode(), timeout=30)
    if r != 0:
        sys.exit("osd new: %d %s" % (r, err))
    ids.append(json.loads(out)["osdid"])
c.shutdown()
print(json.dumps(ids))
"""

# Runs in /usr/bin/python3. argv: conf, the number of OSDs, timeout, and "ok" or "usable". Exit 0 once
# every OSD is up and in and a mgr is available, and (with "ok") health is HEALTH_OK; else print the last
# status and exit 1. A running lab may be HEALTH_WARN for what tests left (a full pool): still usable.
WAIT = r"""
import json, sys, time, rados
conf, osds, timeout, want_ok = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "ok"
deadline = time.monotonic() + timeout
last = "no connection"
while time.monotonic() < deadline:
    try:
        c = rados.Rados(conffile=conf, name="client.admin",
                        conf={"rados_mon_op_timeout": "5", "client_mount_timeout": "5"})
        c.connect(timeout=5)
    except rados.Error as e:
        last = "connect: %s" % e
        time.sleep(0.3)
        continue
    try:
        while time.monotonic() < deadline:
            r, out, err = c.mon_command(json.dumps({"prefix": "status", "format": "json"}), b"", timeout=5)
            if r == 0:
                s = json.loads(out)
                om = s.get("osdmap", {}).get("osdmap", s.get("osdmap", {}))
                health = s.get("health", {}).get("status")
                mgr = s.get("mgrmap", {}).get("available")
                last = "health=%s osds up=%s in=%s mgr=%s" % (health, om.get("num_up_osds"),
                                                             om.get("num_in_osds"), mgr)
                if (health == "HEALTH_OK" or not want_ok) and mgr and om.get("num_up_osds") == osds == om.get(
                    "num_in_osds"
                ):
                    print(last)
                    sys.exit(0)
            time.sleep(0.2)
    finally:
        c.shutdown()
print(last)
sys.exit(1)
"""


class Ceph(Layer):
    name = "ceph"

    # ------------------------------------------------------------ paths

    def _dir(self, lab: Lab) -> str:
        return os.path.dirname(lab.path("ceph", "x"))

    def _conf(self, lab: Lab) -> str:
        return os.path.join(self._dir(lab), "ceph.conf")

    def _keyring(self, lab: Lab) -> str:
        return os.path.join(self._dir(lab), "keyring")

    def _pidfiles(self, lab: Lab) -> list[str]:
        """mgr and OSD pidfiles first, the mon last: the order they are stopped in."""
        run_dir = os.path.join(self._dir(lab), "run")
        if not os.path.isdir(run_dir):
            return []
        names = sorted(n for n in os.listdir(run_dir) if n.endswith(".pid"))
        mons = [n for n in names if n.startswith("ceph-mon.")]
        return [os.path.join(run_dir, n) for n in names if n not in mons] + [os.path.join(run_dir, n) for n in mons]

    def _daemon_pids(self, lab: Lab) -> dict[str, int | None]:
        run_dir = os.path.join(self._dir(lab), "run")
        out: dict[str, int | None] = {}
        for name in [f"mon.{MON_ID}", f"mgr.{MGR_ID}"] + [f"osd.{i}" for i in range(OSDS)]:
            pid = read_pid(os.path.join(run_dir, f"ceph-{name}.pid"))
            out[name] = pid if pid is not None and pid_alive(pid, self._conf(lab)) else None
        return out

    # ------------------------------------------------------------ health

    def _wait_healthy(self, lab: Lab, timeout: float, want_ok: bool = True) -> subprocess.CompletedProcess:
        argv = [SYSTEM_PYTHON, "-c", WAIT, self._conf(lab), str(OSDS), str(timeout), "ok" if want_ok else "usable"]
        return run(argv, check=False, timeout=timeout + 30)

    def _healthy(self, lab: Lab) -> bool:
        """Every daemon of ours runs and the cluster answers with all OSDs up and in and a mgr (warnings are fine)."""
        if not os.path.exists(self._conf(lab)) or not all(self._daemon_pids(lab).values()):
            return False
        return self._wait_healthy(lab, 5, want_ok=False).returncode == 0

    # ------------------------------------------------------------ up/down

    def up(self, lab: Lab) -> None:
        if not self._healthy(lab):
            self._purge(lab)
            self._create(lab)
        self._publish(lab)

    def _create(self, lab: Lab) -> None:
        d = self._dir(lab)
        conf, keyring = self._conf(lab), self._keyring(lab)
        for sub in ("run", "log", "mon", "osd", "mgr", "crash"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        fsid = str(uuid.uuid4())
        with open(conf, "w", encoding="utf-8") as f:
            f.write(CONF.format(fsid=fsid, monitors=MONITORS, mon_id=MON_ID, dir=d))
        run(
            [
                "ceph-authtool",
                "--create-keyring",
                keyring,
                "--gen-key",
                "-n",
                "client.admin",
                "--cap",
                "mon",
                "allow *",
                "--cap",
                "osd",
                "allow *",
                "--cap",
                "mds",
                "allow *",
                "--cap",
                "mgr",
                "allow *",
            ]
        )
        os.chmod(keyring, 0o600)
        run(["ceph-authtool", keyring, "--gen-key", "-n", "mon.", "--cap", "mon", "allow *"])
        run(
            [
                "ceph-authtool",
                keyring,
                "--gen-key",
                "-n",
                f"mgr.{MGR_ID}",
                "--cap",
                "mon",
                "allow profile mgr",
                "--cap",
                "osd",
                "allow *",
                "--cap",
                "mds",
                "allow *",
            ]
        )
        monmap = os.path.join(d, "monmap")
        run(["monmaptool", "--create", "--fsid", fsid, "--addv", MON_ID, MONITORS, monmap])
        try:
            run(["ceph-mon", "-c", conf, "--mkfs", "-i", MON_ID, "--monmap", monmap, "--keyring", keyring])
            self._start(lab, "mon", ["ceph-mon", "-c", conf, "-i", MON_ID])
            os.makedirs(os.path.join(d, "mgr", f"ceph-{MGR_ID}"), exist_ok=True)
            self._start(lab, "mgr", ["ceph-mgr", "-c", conf, "-i", MGR_ID])
            osds = [
                {"uuid": str(uuid.uuid4()), "secret": run(["ceph-authtool", "--gen-print-key"]).stdout.strip()}
                for _ignored in range(OSDS)
            ]
            ids = json.loads(run([SYSTEM_PYTHON, "-c", OSD_NEW, conf, json.dumps(osds)], timeout=120).stdout)
            mkfs = []
            for osd_id, osd in zip(ids, osds, strict=True):
                run(["ceph-authtool", keyring, "--add-key", osd["secret"], "-n", f"osd.{osd_id}"])
                os.makedirs(os.path.join(d, "osd", f"ceph-{osd_id}"), exist_ok=True)
                mkfs.append(
                    self._popen(
                        lab,
                        f"osd.{osd_id}-mkfs",
                        ["ceph-osd", "-c", conf, "-i", str(osd_id), "--mkfs", "--osd-uuid", osd["uuid"]],
                    )
                )
            for osd_id, proc in zip(ids, mkfs, strict=True):
                if proc.wait(timeout=120) != 0:
                    raise RuntimeError(f"lab: ceph-osd --mkfs of osd.{osd_id} failed (see {d}/log)")
            for osd_id in ids:
                self._start(lab, f"osd.{osd_id}", ["ceph-osd", "-c", conf, "-i", str(osd_id)])
            waited = self._wait_healthy(lab, 90)
            if waited.returncode != 0:
                last = waited.stdout.strip() or waited.stderr.strip()
                raise RuntimeError(f"lab: Ceph did not become healthy: {last} (logs in {d}/log)")
        except (RuntimeError, subprocess.SubprocessError, OSError, ValueError):
            self._stop_all(lab, signal.SIGKILL)
            raise

    def _popen(self, lab: Lab, label: str, argv: list[str]) -> subprocess.Popen:
        # The child keeps its own copy of the log's descriptor.
        with open(os.path.join(self._dir(lab), "log", f"stderr-{label}"), "ab") as log:
            return subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True
            )

    def _start(self, lab: Lab, label: str, argv: list[str]) -> None:
        """Start a daemon: it forks into the background, writes its pidfile, and the parent exits."""
        if self._popen(lab, label, argv).wait(timeout=60) != 0:
            raise RuntimeError("lab: {} failed to start (see {}/log)".format(" ".join(argv), self._dir(lab)))

    def _stop_all(self, lab: Lab, sig: int = signal.SIGTERM) -> None:
        conf = self._conf(lab)
        for pidfile in self._pidfiles(lab):
            pid = read_pid(pidfile)
            if pid is None:
                continue
            if sig == signal.SIGKILL:
                if pid_alive(pid, conf):
                    os.kill(pid, signal.SIGKILL)
            else:
                stop_pid(pid, conf, timeout=10)
        deadline = time.monotonic() + 10
        for pidfile in self._pidfiles(lab):
            pid = read_pid(pidfile)
            while pid is not None and pid_alive(pid, conf) and time.monotonic() < deadline:
                time.sleep(0.05)

    def _purge(self, lab: Lab) -> None:
        self._stop_all(lab, signal.SIGTERM)
        shutil.rmtree(self._dir(lab), ignore_errors=True)

    def _publish(self, lab: Lab) -> None:
        conf, keyring = self._conf(lab), self._keyring(lab)
        env = {
            "CEPH_CONF": conf,
            "IRONCLOUD_CEPH_KEYRING": keyring,
            "IRONCLOUD_CEPH_MONITORS": f"{HOST}:{V1_PORT}",
        }
        ceph_vars = {
            "ceph_conf": conf,
            "ceph_keyring": keyring,
            "ceph_monitors": [f"{HOST}:{V1_PORT}"],
            "ceph_osd_count": OSDS,
        }
        inventory = {
            "all": {
                "children": {
                    "ceph_admin": {
                        "hosts": {
                            "ceph-admin": {
                                "ansible_connection": "local",
                                "ansible_python_interpreter": SYSTEM_PYTHON,
                            }
                        }
                    }
                },
                # On all hosts, so the controller (localhost) can register the pools on Proxmox too.
                "vars": ceph_vars,
            }
        }
        lab.publish(
            self.name, env=env, inventory=inventory, dir=self._dir(lab), conf=conf, keyring=keyring, monitors=MONITORS
        )

    def down(self, lab: Lab) -> None:
        self._purge(lab)

    def status(self, lab: Lab) -> dict[str, Any]:
        pids = self._daemon_pids(lab)
        return {
            "up": self._healthy(lab),
            "daemons": ",".join(n for n, p in sorted(pids.items()) if p),
            "monitors": MONITORS,
        }
