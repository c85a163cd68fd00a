"""The CreateVM flow (role vm, playbooks tenant.yml, vm_create.yml, vm_destroy.yml, reconcile.yml) against the lab.

- faults: a failure injected at each step (reservation, clone, config, lease, start, commit) leaves no VM, lease
  or reservation behind, and a rerun succeeds. Proxmox faults come from the fake's fault injection (on a template
  and pinned VMIDs of the tests' own); store faults from a trigger that makes the one statement of that step fail
  for that VM only, in the test's own SQLite store and (reservation, lease, commit) in the lab's PostgreSQL.
- SIGKILL, security and idempotency run on both backends (SQLite file, the lab's PostgreSQL).
- 12 VMs created in one run in parallel, then destroyed in parallel.
- SIGKILL of ansible-playbook half-way (after the clone): cloud_reconcile finds and repairs everything.
- security: tenant A's token cannot create in, read or destroy tenant B's resources; the role refuses another
  tenant's VM even with the operator's credentials.
- idempotency: vm_create.yml run twice, the second run reports changed=0.

Each module uses its own state store (a SQLite file under tmp) and tenant/VM names with a random part (prefix
it-vmf-), and its networks use explicit local tags and VNIs outside what the lab's store hands out, so the tests
do not collide with the other tests on the shared lab. Clone faults hit a template of the tests' own (VMID 899100).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import time
from typing import Any

import pytest
import yaml
from conftest import ROOT, descendants, playbook_env

PREFIX = "it-vmf-"
TEMPLATE_VMID = 899100
PLAYBOOKS = os.path.join(ROOT, "playbooks")


def ensure_template(pve_control) -> None:
    """A template of the tests' own, so a clone fault injected on it hits nobody else's clone."""
    if pve_control.call("vm_summary", TEMPLATE_VMID):
        return
    config = dict(pve_control.call("vm_summary", 9000)["config"], name=PREFIX + "template")
    config["smbios1"] = "uuid=6a5bd0c2-2b8e-4d5e-9a35-000000899100"
    pve_control.call("add_vm", TEMPLATE_VMID, PREFIX + "template", node="pve1", template=True, config=config)


class Cloud:
    """One test module's cloud: its store, its spec (tenants A and B), its credentials directory."""

    def __init__(self, base: str, lab_env: dict[str, str], store: str | None = None) -> None:
        self.base = base
        self.lab_env = lab_env
        self.id = secrets.token_hex(3)
        self.db = os.path.join(base, "state.db")
        self.store = store or "sqlite:///" + self.db
        self.creds = os.path.join(base, "creds")
        self.a = "%s%s-a" % (PREFIX, self.id)
        self.b = "%s%s-b" % (PREFIX, self.id)
        n = int(self.id, 16)
        self.tag = 3000 + n % 900  # local tags far above what the lab's own store hands out
        self.vni = 16000000 + n % 700000
        self.vms: dict[str, list[dict[str, Any]]] = {self.a: [], self.b: []}
        self.count = 0
        # pinned VMIDs of the tests (fault injection needs the VMID before the VM exists)
        self.vmid_base = (899300 if self.store.startswith("postgresql") else 899200) + n % 5

    def vm(self, tenant: str, short: str, **extra: Any) -> str:
        """A VM of the tenant's project web, placed on one of the lab's own nodes (other tests add and remove
        nodes of their own to the shared fake, which placement would otherwise pick)."""
        name = "%s-%s" % (tenant, short)
        self.count += 1
        node = "pve%d" % (self.count % 3 + 1)
        self.vms[tenant].append(dict({"name": name, "network": "front", "node": node}, **extra))
        return name

    def spec(
        self, path: str | None = None, vms: dict[str, list[dict[str, Any]]] | None = None, state: str = "present"
    ) -> str:
        vms = self.vms if vms is None else vms
        tenants = []
        for i, tenant in enumerate((self.a, self.b)):
            tenants.append(
                {
                    "name": tenant,
                    "quota": {
                        "cores": 32,
                        "memory_mb": 32768,
                        "disk_gb": 400,
                        "vms": 20,
                        "networks": 2,
                        "addresses": 32,
                    },
                    "token": True,
                    "state": state,
                    "projects": [
                        {
                            "name": "web",
                            "networks": [{"name": "front", "tag": self.tag + i, "vni": self.vni + i}],
                            "vms": vms.get(tenant, []),
                        }
                    ],
                }
            )
        spec = {
            "cloud_spec_version": 1,
            "cloud_defaults": {"image": "tpl", "size": "tiny", "ciuser": "debian", "reservation_ttl": 600},
            "cloud_images": {"tpl": {"vmid": TEMPLATE_VMID, "node": "pve1"}},
            "cloud_sizes": {"tiny": {"cores": 1, "memory_mb": 256, "disk_gb": 4}},
            "cloud_tenants": tenants,
        }
        path = path or os.path.join(self.base, "spec.yml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(spec, f)
        return path

    def env(self) -> dict[str, str]:
        return playbook_env(self.lab_env, IRONCLOUD_STATE_STORE=self.store)

    def argv(self, playbook: str, *args: str, **extra_vars: Any) -> list[str]:
        extra = dict(
            {"cloud_spec": os.path.join(self.base, "spec.yml"), "cloud_credentials_dir": self.creds}, **extra_vars
        )
        return [
            os.path.join(ROOT, ".venv", "bin", "ansible-playbook"),
            os.path.join(PLAYBOOKS, playbook),
            *args,
            "--extra-vars",
            json.dumps(extra),
        ]

    def run(self, playbook: str, *args: str, timeout: int = 900, **extra_vars: Any) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(playbook, *args, **extra_vars),
            cwd=ROOT,
            env=self.env(),
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    # ------------------------------------------------------------------ the store, read directly

    def rows(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        if self.store.startswith("postgresql"):
            import psycopg
            from psycopg.rows import dict_row

            with psycopg.connect(self.store, row_factory=dict_row) as conn:
                return list(conn.execute(sql.replace("?", "%s"), params).fetchall())
        conn = sqlite3.connect(self.db, timeout=60)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()

    def execute(self, sql: str) -> None:
        if self.store.startswith("postgresql"):
            import psycopg

            with psycopg.connect(self.store, autocommit=True) as conn:
                conn.execute(sql)
            return
        conn = sqlite3.connect(self.db, timeout=60, isolation_level=None)
        try:
            conn.execute(sql)
        finally:
            conn.close()

    def inject_store_fault(self, step: str, name: str) -> None:
        """Make the store fail the statement of that step for VM `name` only (a trigger, removed by clear)."""
        table, when, event = STORE_FAULTS[step]
        when = when.format(name=name)
        message = "injected store failure (%s)" % step
        if self.store.startswith("postgresql"):
            fn = "it_vmf_fault_%s" % self.id
            self.execute(
                "CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '%s'; END $$"
                % (fn, message)
            )
            self.execute(
                "CREATE TRIGGER %s BEFORE %s ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION %s()"
                % (fn, event, table, when, fn)
            )
        else:
            self.execute(
                "CREATE TRIGGER it_fault BEFORE %s ON %s WHEN %s BEGIN SELECT RAISE(ABORT, '%s'); END"
                % (event, table, when, message)
            )
        self.fault_table = table

    def clear_store_fault(self) -> None:
        if self.store.startswith("postgresql"):
            fn = "it_vmf_fault_%s" % self.id
            self.execute("DROP TRIGGER IF EXISTS %s ON %s" % (fn, self.fault_table))
            self.execute("DROP FUNCTION IF EXISTS %s()" % fn)
        else:
            self.execute("DROP TRIGGER IF EXISTS it_fault")

    def reservations(self, name: str) -> list[dict[str, Any]]:
        return self.rows("SELECT id, state, vmid, node FROM reservations WHERE name = ?", (name,))

    def leases(self, name: str) -> list[dict[str, Any]]:
        return self.rows("SELECT owner, address, vmid FROM leases WHERE owner = ?", (name + "/net0",))

    def token(self, tenant: str) -> str:
        return os.path.join(self.creds, tenant + ".json")


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP of an ansible-playbook run: host -> {ok, changed, failed, ...}."""
    out = {}
    for line in output.split("PLAY RECAP")[-1].splitlines():
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if match:
            out[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return out


def output(result: subprocess.CompletedProcess) -> str:
    return (result.stdout + result.stderr)[-6000:]


def make_cloud(base: str, lab_env: dict[str, str], pve_control, store: str | None = None) -> Cloud:
    """Tenants A and B (state store, Proxmox pool/user/token, networks) in the given store."""
    ensure_template(pve_control)
    c = Cloud(base, lab_env, store)
    c.spec()
    made = c.run("tenant.yml")
    assert made.returncode == 0, output(made)
    assert os.stat(c.token(c.a)).st_mode & 0o777 == 0o600
    assert os.stat(c.creds).st_mode & 0o777 == 0o700
    return c


def remove_cloud(c: Cloud, pve_control) -> None:
    """Destroy the VMs and remove the tenants (store and Proxmox side) of a test cloud."""
    c.spec()
    c.run("vm_destroy.yml", cloud_destroy_all=True)
    pve_control.call("remove_vms", PREFIX + c.id)
    c.spec(vms={}, state="absent")
    c.run("tenant.yml")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, lab_env, pve_control):
    """The module's cloud in a SQLite store of its own (the fault tests inject store failures into it)."""
    c = make_cloud(str(tmp_path_factory.mktemp("vmflow")), lab_env, pve_control)
    yield c
    remove_cloud(c, pve_control)


@pytest.fixture(scope="module")
def pg_cloud(tmp_path_factory, lab_env, pve_control):
    """The same on the lab's PostgreSQL (the shared backend): tenants with names of their own, removed after."""
    if not lab_env.get("IRONCLOUD_PG_URL"):
        pytest.fail("the lab publishes no IRONCLOUD_PG_URL: its postgres layer is down (`make lab-up`)")
    c = make_cloud(str(tmp_path_factory.mktemp("vmflow-pg")), lab_env, pve_control, lab_env["IRONCLOUD_PG_URL"])
    yield c
    remove_cloud(c, pve_control)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_cloud(request):
    return request.getfixturevalue("cloud" if request.param == "sqlite" else "pg_cloud")


def pve_vm(pve_control, vmid: int | None) -> dict[str, Any]:
    return pve_control.call("vm_summary", vmid) if vmid else {}


def created(cloud: Cloud, name: str) -> dict[str, Any]:
    """The committed reservation and bound lease of a VM that was made, with checks."""
    res = cloud.reservations(name)
    leases = cloud.leases(name)
    assert len(res) == 1 and res[0]["state"] == "committed", res
    assert len(leases) == 1 and leases[0]["vmid"] == res[0]["vmid"], (res, leases)
    return {"vmid": res[0]["vmid"], "node": res[0]["node"], "address": leases[0]["address"]}


def nothing_left(cloud: Cloud, pve_control, name: str) -> None:
    assert cloud.reservations(name) == []
    assert cloud.leases(name) == []
    assert pve_control.call("remove_vms", name) == [], "a VM %s was left behind" % name


# ---------------------------------------------------------------------------------------------- faults

STORE_FAULTS = {  # step: (table, condition, event) of the statement the store fails
    "reservation": ("reservations", "NEW.name = '{name}'", "INSERT"),
    "lease": ("leases", "NEW.owner = '{name}/net0'", "INSERT"),
    "commit": ("reservations", "NEW.name = '{name}' AND NEW.state = 'committed'", "UPDATE"),
}
STEPS = ["reservation", "clone", "config", "lease", "start", "commit"]


@pytest.mark.parametrize("step", STEPS)
def test_fault_at_each_step_rolls_back_and_a_rerun_succeeds(step, cloud, pve_control):
    check_fault_at_step(step, cloud, pve_control)


@pytest.mark.parametrize("step", sorted(STORE_FAULTS))
def test_store_fault_on_postgresql_rolls_back_and_a_rerun_succeeds(step, pg_cloud, pve_control):
    check_fault_at_step(step, pg_cloud, pve_control)


def check_fault_at_step(step: str, cloud: Cloud, pve_control) -> None:
    vmid = cloud.vmid_base + STEPS.index(step) * 7
    name = cloud.vm(cloud.a, "f" + step[:4], vmid=vmid)
    cloud.spec()
    if step in STORE_FAULTS:
        cloud.inject_store_fault(step, name)
    elif step == "clone":
        pve_control.call("fail", "POST", "/qemu/%d/clone" % TEMPLATE_VMID, status=500, message="boom (clone)", times=1)
    elif step == "config":
        pve_control.call("fail", "PUT", "/qemu/%d/config" % vmid, status=500, message="boom (config)", times=1)
    elif step == "start":
        pve_control.call("fail", "POST", "/qemu/%d/status/start" % vmid, status=500, message="boom (start)", times=1)
    try:
        failed = cloud.run("vm_create.yml", cloud_only_vms=[name])
    finally:
        if step in STORE_FAULTS:
            cloud.clear_store_fault()
    assert failed.returncode != 0, output(failed)
    assert "creating VM %s/web/%s failed" % (cloud.a, name) in failed.stdout, output(failed)
    assert "boom (%s)" % step in failed.stdout or "injected store failure (%s)" % step in failed.stdout, output(failed)
    assert "the rollback itself failed" not in failed.stdout, output(failed)
    assert pve_vm(pve_control, vmid) == {}, "VM %d left behind after a %s fault" % (vmid, step)
    assert cloud.reservations(name) == [], "reservation left behind after a %s fault" % step
    assert cloud.leases(name) == [], "lease left behind after a %s fault" % step

    again = cloud.run("vm_create.yml", cloud_only_vms=[name])
    assert again.returncode == 0, output(again)
    made = created(cloud, name)
    assert made["vmid"] == vmid
    vm = pve_vm(pve_control, vmid)
    assert vm["status"] == "running" and vm["config"]["name"] == name
    assert "ip=%s/24" % made["address"] in vm["config"]["ipconfig0"]
    assert "tag=%d" % cloud.tag in vm["config"]["net0"] and "bridge=br-int" in vm["config"]["net0"]
    assert vm["pool"] == "ic-" + cloud.a


# ---------------------------------------------------------------------------------------------- SIGKILL


def hang_at_bind(cloud: Cloud, name: str) -> None:
    """Make the store's bind of the VM's lease (UPDATE leases SET vmid) take long, for that VM only: PostgreSQL
    sleeps 10 s in a trigger, SQLite counts in one (it stops with the killed process)."""
    when = "NEW.owner = '%s/net0' AND NEW.vmid IS NOT NULL" % name
    if cloud.store.startswith("postgresql"):
        fn = "it_vmf_hang_%s" % cloud.id
        cloud.execute(
            "CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(10); RETURN NEW; "
            "END $$" % fn
        )
        cloud.execute(
            "CREATE TRIGGER %s BEFORE UPDATE ON leases FOR EACH ROW WHEN (%s) EXECUTE FUNCTION %s()" % (fn, when, fn)
        )
        return
    cloud.execute(
        "CREATE TRIGGER it_hang BEFORE UPDATE ON leases WHEN %s BEGIN SELECT COUNT(*) FROM (WITH RECURSIVE "
        "c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT x FROM c); END" % when
    )


def unhang(cloud: Cloud) -> None:
    if cloud.store.startswith("postgresql"):
        fn = "it_vmf_hang_%s" % cloud.id
        cloud.execute("DROP TRIGGER IF EXISTS %s ON leases" % fn)
        cloud.execute("DROP FUNCTION IF EXISTS %s()" % fn)
    else:
        cloud.execute("DROP TRIGGER IF EXISTS it_hang")


def kill_tree(pid: int) -> None:
    """SIGKILL ansible-playbook (pid, started by the test) and every process it started, by their ids."""
    for victim in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def test_sigkill_after_the_clone_then_reconcile_repairs_everything(any_cloud, pve_control):
    """cloud_vm is killed (with ansible-playbook and its workers) after the clone and the config, while
    the store binds the lease: reconcile then finds the VM and repairs the store."""
    cloud = any_cloud
    vmid = cloud.vmid_base + 50
    name = cloud.vm(cloud.a, "kill", vmid=vmid)
    cloud.spec()
    log = os.path.join(cloud.base, "killed.log")
    hang_at_bind(cloud, name)
    try:
        with open(log, "w", encoding="utf-8") as out:
            proc = subprocess.Popen(
                cloud.argv("vm_create.yml", cloud_only_vms=[name]),
                cwd=ROOT,
                env=cloud.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        try:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and proc.poll() is None:
                if pve_vm(pve_control, vmid).get("config", {}).get("ipconfig0"):
                    break
                time.sleep(0.2)
            time.sleep(1)
            with open(log, encoding="utf-8") as f:
                assert proc.poll() is None, "the run ended before it was killed:\n" + f.read()[-3000:]
            kill_tree(proc.pid)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                kill_tree(proc.pid)
                proc.wait(timeout=60)
    finally:
        unhang(cloud)
    assert pve_vm(pve_control, vmid), "the clone was not done when the run was killed"
    assert [r["state"] for r in cloud.reservations(name)] == ["reserved"]

    checked = cloud.run("reconcile.yml", "--check", cloud_reconcile_tenant=cloud.a)
    assert checked.returncode == 0, output(checked)
    assert "vms_without_reservation (1)" in checked.stdout, output(checked)
    assert [r["state"] for r in cloud.reservations(name)] == ["reserved"], "check mode changed the store"

    repaired = cloud.run("reconcile.yml", cloud_reconcile_tenant=cloud.a)
    assert repaired.returncode == 0, output(repaired)
    assert recap(repaired.stdout)["localhost"]["changed"] == 1, output(repaired)
    made = created(cloud, name)
    assert made["vmid"] == vmid

    clean = cloud.run("reconcile.yml", "--check", cloud_reconcile_tenant=cloud.a)
    assert clean.returncode == 0 and "0 drift item(s)" in clean.stdout, output(clean)
    assert recap(clean.stdout)["localhost"]["changed"] == 0

    # The rerun finishes the VM (start) and changes nothing in the store.
    again = cloud.run("vm_create.yml", cloud_only_vms=[name])
    assert again.returncode == 0, output(again)
    assert created(cloud, name) == made
    assert pve_vm(pve_control, vmid)["status"] == "running"


# ---------------------------------------------------------------------------------------------- security + idempotency


def test_vm_create_twice_second_run_changes_nothing(any_cloud, pve_control):
    cloud = any_cloud
    a1 = cloud.vm(cloud.a, "a1")
    b1 = cloud.vm(cloud.b, "b1")
    cloud.spec()
    first = cloud.run("vm_create.yml", cloud_only_vms=[a1, b1])
    assert first.returncode == 0, output(first)
    assert re.search(
        r"%s/web/%s: vmid \d+ on pve\d, address 10\.100\.0\.\d+/24, gateway 10\.100\.0\.1, running" % (cloud.a, a1),
        re.sub(r"\s+", " ", first.stdout),  # the yaml callback wraps long lines
    ), output(first)
    second = cloud.run("vm_create.yml", cloud_only_vms=[a1, b1])
    assert second.returncode == 0, output(second)
    counts = recap(second.stdout)
    assert len(counts) == 3, counts
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in counts.values()), counts
    for name in (a1, b1):
        assert created(cloud, name)


def token_play(cloud: Cloud, tenant: str, tasks: list[dict[str, Any]]) -> str:
    """A playbook acting with a tenant's token (read from the file the tenant role wrote)."""
    with open(cloud.token(tenant), encoding="utf-8") as f:
        token = json.load(f)
    assert token["token_id"] == "ic-%s@pve!ironcloud" % tenant
    path = os.path.join(cloud.base, "as-%s.yml" % tenant)
    book = [
        {
            "name": "as tenant",
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {
                "group/ironcloud.stack.proxmox": {
                    "api_host": "{{ proxmox_api_host }}",
                    "api_port": "{{ proxmox_api_port }}",
                    "api_token_id": token["token_id"],
                    "api_token_secret": token["token_secret"],
                    "ca_path": "{{ proxmox_ca_path }}",
                }
            },
            "tasks": tasks,
        }
    ]
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(book, f)
    return path


def dump(var: str, path: str) -> dict[str, Any]:
    return {"ansible.builtin.copy": {"content": "{{ %s | to_json }}" % var, "dest": path, "mode": "0600"}}


def test_tenant_a_cannot_create_read_or_destroy_tenant_b(any_cloud, pve_control):
    cloud = any_cloud
    a1 = next((v["name"] for v in cloud.vms[cloud.a] if v["name"].endswith("-a1")), None)
    b1 = next((v["name"] for v in cloud.vms[cloud.b] if v["name"].endswith("-b1")), None)
    if a1 is None or b1 is None:  # run alone: make them
        a1, b1 = cloud.vm(cloud.a, "a1"), cloud.vm(cloud.b, "b1")
        cloud.spec()
        made = cloud.run("vm_create.yml", cloud_only_vms=[a1, b1])
        assert made.returncode == 0, output(made)
    vm_a, vm_b = created(cloud, a1), created(cloud, b1)

    # create in B with A's token: refused by the role before anything changes
    b2 = cloud.vm(cloud.b, "b2")
    cloud.spec()
    refused = cloud.run("vm_create.yml", cloud_only_vms=[b2], cloud_credentials_file=cloud.token(cloud.a))
    assert refused.returncode != 0
    assert "is tenant %s's and may not act for tenant %s" % (cloud.a, cloud.b) in refused.stdout, output(refused)
    nothing_left(cloud, pve_control, b2)

    # ... and by Proxmox itself: A's token may not put a VM into B's pool, nor read or destroy B's VM
    results = os.path.join(cloud.base, "as-a")
    os.makedirs(results, exist_ok=True)
    book = token_play(
        cloud,
        cloud.a,
        [
            {
                "name": "clone into B's pool",
                "ironcloud.stack.proxmox_vm": {
                    "name": b2,
                    "clone": str(TEMPLATE_VMID),
                    "node": "pve1",
                    "pool": "ic-" + cloud.b,
                    "tags": ["ic-tenant-" + cloud.b, "ic-project-web"],
                },
                "register": "clone",
                "ignore_errors": True,
            },
            dump("clone", results + "/clone.json"),
            {"name": "read B's VMs", "ironcloud.stack.proxmox_vm_info": {"tenant": cloud.b}, "register": "read_b"},
            dump("read_b", results + "/read_b.json"),
            {
                "name": "read B's VM by id",
                "ironcloud.stack.proxmox_vm_info": {"vmid": vm_b["vmid"]},
                "register": "by_id",
            },
            dump("by_id", results + "/by_id.json"),
            {"name": "read A's own VMs", "ironcloud.stack.proxmox_vm_info": {"tenant": cloud.a}, "register": "read_a"},
            dump("read_a", results + "/read_a.json"),
            {
                "name": "destroy B's VM",
                "ironcloud.stack.proxmox_vm": {"vmid": vm_b["vmid"], "state": "absent"},
                "register": "destroy",
                "ignore_errors": True,
            },
            dump("destroy", results + "/destroy.json"),
        ],
    )
    run = subprocess.run(
        [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), book],
        cwd=ROOT,
        env=cloud.env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, output(run)

    def got(name: str) -> dict[str, Any]:
        with open(os.path.join(results, name + ".json"), encoding="utf-8") as f:
            return json.load(f)

    assert got("clone").get("failed"), got("clone")
    assert pve_control.call("remove_vms", b2) == []
    assert got("read_b")["vms"] == []
    assert got("by_id")["vms"] == []
    own = got("read_a")["vms"]
    assert vm_a["vmid"] in [v["vmid"] for v in own]
    assert all("ic-tenant-" + cloud.a in v["tags"] for v in own), own
    assert pve_vm(pve_control, vm_b["vmid"])["status"] == "running", "A's token destroyed B's VM"

    # destroy B's VM with A's token through the playbook: refused
    refused = cloud.run("vm_destroy.yml", cloud_only_vms=[b1], cloud_credentials_file=cloud.token(cloud.a))
    assert refused.returncode != 0
    assert "may not act for tenant %s" % cloud.b in refused.stdout, output(refused)
    assert pve_vm(pve_control, vm_b["vmid"])["status"] == "running"
    assert created(cloud, b1) == vm_b

    # with the operator's credentials, a spec that puts B's VM under A: create and destroy are both refused
    other = cloud.spec(os.path.join(cloud.base, "steal.yml"), vms={cloud.a: [{"name": b1, "network": "front"}]})
    stolen = cloud.run("vm_create.yml", cloud_spec=other, cloud_only_vms=[b1])
    assert stolen.returncode != 0 and "is not %s/web/%s's" % (cloud.a, b1) in stolen.stdout, output(stolen)
    destroy = cloud.run("vm_destroy.yml", cloud_spec=other, cloud_only_vms=[b1])
    assert destroy.returncode != 0, output(destroy)
    assert "refused: VM %s (vmid %d) belongs to ic-project-web, ic-tenant-%s" % (b1, vm_b["vmid"], cloud.b) in (
        destroy.stdout
    ), output(destroy)
    assert pve_vm(pve_control, vm_b["vmid"])["status"] == "running"
    assert created(cloud, b1) == vm_b

    # the owner destroys it: VM, lease and reservation are gone
    gone = cloud.run("vm_destroy.yml", cloud_only_vms=[b1])
    assert gone.returncode == 0, output(gone)
    assert pve_vm(pve_control, vm_b["vmid"]) == {}
    assert cloud.reservations(b1) == [] and cloud.leases(b1) == []


def test_parallel_creates_and_destroys_of_the_spec(cloud, pve_control):
    """12 VMs of one spec in one run (one host per VM, the forks run the flows at once): every flow succeeds, each
    VM gets its own VMID and address; vm_destroy.yml then removes them all, with their leases and reservations."""
    names = [cloud.vm(cloud.b, "p%02d" % n) for n in range(12)]
    cloud.spec()
    made = cloud.run("vm_create.yml", cloud_only_vms=names)
    assert made.returncode == 0, output(made)
    found = {name: created(cloud, name) for name in names}
    assert len({f["vmid"] for f in found.values()}) == len(names)
    assert len({f["address"] for f in found.values()}) == len(names)
    for name, f in found.items():
        assert pve_vm(pve_control, f["vmid"])["config"]["name"] == name
    gone = cloud.run("vm_destroy.yml", cloud_only_vms=names)
    assert gone.returncode == 0, output(gone)
    for name, f in found.items():
        assert pve_vm(pve_control, f["vmid"]) == {}
        assert cloud.reservations(name) == [] and cloud.leases(name) == []


# ---------------------------------------------------------------------------------------------- cloud_vm itself


def test_cloud_vm_module_check_apply_diff_absent_and_refusal(cloud, pve_control):
    """cloud_vm called directly: check mode predicts and changes nothing, apply, check and apply again change
    nothing, --diff shows the change, another tenant's VM is refused, absent removes VM, lease and reservation."""
    name = cloud.a + "-direct"
    vm = {
        "tenant": cloud.a,
        "project": "web",
        "name": name,
        "cores": 1,
        "memory_mb": 256,
        "disk_gb": 4,
        "image": str(TEMPLATE_VMID),
        "network": "front",
        "node": "pve2",  # one of the lab's own nodes (other tests add nodes of their own to the shared fake)
        "ciuser": "debian",
        "sshkeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC4RBUkNO/1zy3NdsCMcKBJFlmvEM0yNncSczjsGO1zV it@example"],
    }
    results = os.path.join(cloud.base, "direct")
    os.makedirs(results, exist_ok=True)

    def step(label: str, extra: dict[str, Any] | None = None, **task: Any) -> list[dict[str, Any]]:
        return [
            dict({"name": label, "ironcloud.stack.cloud_vm": dict(vm, **(extra or {})), "register": label}, **task),
            dump(label, os.path.join(results, label + ".json")),
        ]

    tasks = (
        step("checked", check_mode=True)
        + step("applied")
        + step("checked_again", check_mode=True)
        + step("applied_again")
        + step("stopped", {"state": "stopped"}, diff=True)
        + step("stolen", {"tenant": cloud.b}, ignore_errors=True)
        + step("removed", {"state": "absent"}, diff=True)
        + step("removed_again", {"state": "absent"})
    )
    book = os.path.join(cloud.base, "direct.yml")
    with open(book, "w", encoding="utf-8") as f:
        yaml.safe_dump([{"name": "cloud_vm", "hosts": "localhost", "gather_facts": False, "tasks": tasks}], f)
    run = subprocess.run(
        [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), book],
        cwd=ROOT,
        env=cloud.env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, output(run)

    def got(label: str) -> dict[str, Any]:
        with open(os.path.join(results, label + ".json"), encoding="utf-8") as f:
            return json.load(f)

    checked = got("checked")
    assert checked["changed"] is True and checked["vm"]["vmid"] is None and checked["vm"]["node"] == "pve2"
    assert "diff" not in checked  # only with --diff
    applied = got("applied")["vm"]
    assert got("applied")["changed"] is True
    assert applied["status"] == "running" and applied["node"] == "pve2"
    assert applied["address"].startswith("10.100.0.") and applied["address"].endswith("/24")
    assert applied["gateway"] == "10.100.0.1" and applied["ssh_user"] == "debian"
    assert applied["ssh_key_fingerprints"] == ["SHA256:ZZYp5/vaBFN/ePk/OlaIwuTegd8UE0i9VI7vrtbN9dM"]
    assert applied["ssh_key_file"] is None
    assert got("checked_again")["changed"] is False
    assert got("applied_again")["changed"] is False and got("applied_again")["vm"] == applied
    stopped = got("stopped")
    assert stopped["changed"] is True and stopped["vm"]["vmid"] == applied["vmid"]
    assert stopped["diff"] == {"before": {"status": "running"}, "after": {"status": "stopped"}}
    stolen = got("stolen")
    assert stolen["failed"] and "refused: a VM named %s exists" % name in stolen["msg"], stolen
    removed = got("removed")
    assert removed["changed"] is True and removed["diff"]["before"]["vmid"] == applied["vmid"]
    assert got("removed_again")["changed"] is False
    nothing_left(cloud, pve_control, name)
