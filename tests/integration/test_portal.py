"""The portal (playbooks/portal.yml, docs/portal.md) against the lab, without an AWX server (none can run here).

1. portal.yml in render mode (portal_dry_render) for a spec of two tenants, reading the lab's Proxmox and a store of
   the test's own: every object it would send is accepted by the installed awx.awx module's argument spec, every
   survey by AWX's survey rules, no secret is in the file.
2. Each job template is run the way AWX runs it, through ansible-runner: its playbook from the project (this
   checkout), its inventory source (the ironcloud.stack.cloud plugin), its extra vars, its survey's answers, and
   the environment its credential injects, rendered from the credential type's injectors in the render file (the
   operator's PROXMOX_* and IRONCLOUD_STATE_STORE are removed first). usage, then vm_create -> vm_destroy for a
   VM of tenant A; a bypass of the survey (another tenant, a size the spec lacks) is refused naming the variable.

Names start with IRONCLOUD_TEST_PREFIX (default it-portal-) and a random part; the tenants' networks use explicit
local tags and VNIs far from the lab store's. A template of the test's own (VMID 899700) sits in the shared pool
ironcloud-templates, which tenant tokens may clone, while the test runs.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import urllib.parse
from typing import Any

import ansible_runner
import portal_check
import pytest
import yaml
from conftest import ROOT, playbook_env
from proxmoxer import ProxmoxAPI

from ansible_collections.ironcloud.stack.plugins.plugin_utils import portal

PREFIX = os.environ.get("IRONCLOUD_TEST_PREFIX", "it-portal-")
TEMPLATE = 899700
TEMPLATES_POOL = "ironcloud-templates"
STRIPPED = ("PROXMOX_", "IRONCLOUD_STATE_STORE")


def operator_api(lab_env: dict[str, str]) -> Any:
    user, token = lab_env["PROXMOX_TOKEN_ID"].split("!")
    return ProxmoxAPI(
        lab_env["PROXMOX_HOST"],
        port=int(lab_env["PROXMOX_PORT"]),
        user=user,
        token_name=token,
        token_value=lab_env["PROXMOX_TOKEN_SECRET"],
        verify_ssl=lab_env["PROXMOX_CA_PATH"],
    )


def run_playbook(env: dict[str, str], playbook: str, **extra: Any) -> subprocess.CompletedProcess:
    return subprocess.run(
        [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), os.path.join(ROOT, "playbooks", playbook)]
        + ["--extra-vars", json.dumps(extra)],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=900,
        check=False,
    )


def out(p: Any) -> str:
    return "%s\n%s" % (getattr(p, "stdout", ""), getattr(p, "stderr", ""))


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, lab_env, pve_control):
    base = str(tmp_path_factory.mktemp("portal"))
    rid = secrets.token_hex(2)
    a, b = "%s%s-a" % (PREFIX, rid), "%s%s-b" % (PREFIX, rid)
    n = int(rid, 16)
    if not pve_control.call("vm_summary", TEMPLATE):
        config = dict(pve_control.call("vm_summary", 9000)["config"], name="it-portal-template")
        config["smbios1"] = "uuid=6a5bd0c2-2b8e-4d5e-9a35-000000899700"
        pve_control.call("add_vm", TEMPLATE, "it-portal-template", node="pve1", template=True, config=config)
    api = operator_api(lab_env)
    api.pools.put(poolid=TEMPLATES_POOL, vms=str(TEMPLATE))
    spec = {
        "cloud_spec_version": 1,
        "cloud_defaults": {"image": "tpl", "size": "small", "ciuser": "debian", "reservation_ttl": 600},
        "cloud_images": {"tpl": {"vmid": TEMPLATE, "node": "pve1"}},
        "cloud_sizes": {
            "small": {"cores": 1, "memory_mb": 256, "disk_gb": 4},
            "huge": {"cores": 8, "memory_mb": 1024, "disk_gb": 4},  # more cores than the quota
        },
        "cloud_tenants": [
            {
                "name": t,
                "quota": {"cores": 4, "memory_mb": 4096, "disk_gb": 100, "vms": 3, "networks": 1, "addresses": 8},
                "token": True,
                "projects": [
                    {
                        "name": "web",
                        "networks": [
                            {"name": "front", "tag": 3960 + i + n % 20 * 2, "vni": 16660000 + n % 50000 * 2 + i}
                        ],
                    }
                ],
            }
            for i, t in enumerate((a, b))
        ],
    }
    spec_path = os.path.join(base, "spec.yml")
    with open(spec_path, "w", encoding="utf-8") as f:
        yaml.safe_dump(spec, f)
    store = "sqlite:///" + os.path.join(base, "state.db")
    env = playbook_env(lab_env, IRONCLOUD_STATE_STORE=store)
    creds = os.path.join(base, "creds")
    made = run_playbook(
        env, "tenant.yml", cloud_spec=spec_path, cloud_credentials_dir=creds, tenant_storages=["vmstore"]
    )
    assert made.returncode == 0, out(made)
    c = {"base": base, "a": a, "b": b, "spec": spec_path, "store": store, "env": env, "creds": creds}
    yield c
    for t in (a, b):
        pve_control.call("remove_vms", t)
    api.pools.put(poolid=TEMPLATES_POOL, vms=str(TEMPLATE), delete=1)
    for t in spec["cloud_tenants"]:
        t["state"] = "absent"  # the role removes its networks, its Proxmox tenant and the tenant
    with open(spec_path, "w", encoding="utf-8") as f:
        yaml.safe_dump(spec, f)
    gone = run_playbook(env, "tenant.yml", cloud_spec=spec_path, cloud_credentials_dir=creds)
    assert gone.returncode == 0, out(gone)


@pytest.fixture(scope="module")
def rendered(cloud):
    path = os.path.join(cloud["base"], "portal.json")
    done = run_playbook(
        cloud["env"],
        "portal.yml",
        cloud_spec=cloud["spec"],
        cloud_credentials_dir=cloud["creds"],
        portal_dry_render=path,
        portal_spec_path=cloud["spec"],
        portal_scm_url="https://git.example.com/cloud.git",
    )
    assert done.returncode == 0, out(done)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_render_is_what_the_awx_modules_accept(cloud, rendered):
    objects = rendered["objects"]
    assert {o["name"] for o in objects if o["kind"] == "teams"} == {
        "ironcloud " + cloud["a"],
        "ironcloud " + cloud["b"],
    }
    for o in objects:
        assert o["module"].startswith("awx.awx.")
        assert portal_check.check_args(o["module"], o["args"]) == [], o
        if o["args"].get("survey_spec"):
            portal.check_survey(o["args"]["survey_spec"])
    with open(os.path.join(cloud["creds"], cloud["a"] + ".json"), encoding="utf-8") as f:
        secret = json.load(f)["token_secret"]
    text = json.dumps(rendered)
    assert secret not in text and cloud["store"] not in text and cloud["env"]["PROXMOX_TOKEN_SECRET"] not in text
    jt = job_template(rendered, cloud["a"], "vm_create")
    size = next(q for q in jt["survey_spec"]["spec"] if q["variable"] == "cloud_request_size")
    assert size["choices"] == ["small"] and "quota left: vms 3, cores 4" in size["question_description"]


def job_template(rendered: dict[str, Any], tenant: str, action: str) -> dict[str, Any]:
    return next(o["args"] for o in rendered["objects"] if o["name"] == "ironcloud %s %s" % (tenant, action))


def launch(cloud, rendered, tenant: str, action: str, **answers: Any) -> Any:
    """Run the job template as AWX would: ansible-runner, the project's playbook and inventory source, extra vars,
    the survey's defaults overridden by the answers, and the credential's injected environment."""
    jt = job_template(rendered, tenant, action)
    ctype = next(o["args"] for o in rendered["objects"] if o["kind"] == "credential_types")
    (cred_name,) = jt["credentials"]
    cred = next(o["args"] for o in rendered["objects"] if o["kind"] == "credentials" and o["name"] == cred_name)
    with open(os.path.join(cloud["creds"], tenant + ".json"), encoding="utf-8") as f:
        token = json.load(f)
    # the secrets the render hides, as the operator's run sends them
    inputs = dict(cred["inputs"], token_secret=token["token_secret"], state_store=cloud["store"])
    assert inputs["token_id"] == token["token_id"]
    private = os.path.join(cloud["base"], "runner-%s-%s" % (action, secrets.token_hex(2)))
    os.makedirs(private)
    injected = portal_check.injected_env(ctype, inputs, private)
    extra = {q["variable"]: q["default"] for q in (jt.get("survey_spec") or {"spec": []})["spec"] if "default" in q}
    extra.update(jt["extra_vars"], **answers)
    source = next(
        o["args"] for o in rendered["objects"] if o["kind"] == "inventory_sources" and o["name"] == jt["inventory"]
    )
    env = {k: v for k, v in cloud["env"].items() if not k.startswith(STRIPPED)}
    env.update(injected)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        r = ansible_runner.run(
            private_data_dir=private,
            project_dir=ROOT,
            playbook=os.path.join(ROOT, jt["playbook"]),
            inventory=os.path.join(ROOT, source["source_path"]),
            extravars=extra,
            quiet=True,
            timeout=900,
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    r.text = r.stdout.read()
    return r


def test_usage_job_template(cloud, rendered):
    r = launch(cloud, rendered, cloud["a"], "usage", usage_dir=os.path.join(cloud["base"], "usage"))
    assert r.rc == 0, r.text
    with open(os.path.join(cloud["base"], "usage", "usage.json"), encoding="utf-8") as f:
        assert [t["name"] for t in json.load(f)["tenants"]] == [cloud["a"]]
    r = launch(cloud, rendered, cloud["a"], "usage", usage_tenant=cloud["b"])  # extra vars bypassing the JT's
    assert r.rc != 0 and "refused: usage_tenant %s" % cloud["b"] in r.text, r.text


def test_vm_create_then_vm_destroy_job_templates(cloud, rendered, pve_control):
    vm = cloud["a"] + "-vm1"
    # No credentials directory in the job (AWX has none): the login key is the tenant's public key, which the
    # tenant's credential injects (portal.yml read it from the directory tenant.yml made the key pair in).
    r = launch(cloud, rendered, cloud["a"], "vm_create", cloud_request_vm=vm)
    assert r.rc == 0, r.text
    assert "%s/web/%s: vmid" % (cloud["a"], vm) in r.text and "running" in r.text, r.text
    api = operator_api(cloud["env"])
    found = [v for v in api.cluster.resources.get(type="vm") if v.get("name") == vm]
    assert len(found) == 1 and "ic-tenant-" + cloud["a"] in found[0]["tags"], found
    config = api.nodes(found[0]["node"]).qemu(found[0]["vmid"]).config.get()
    with open(os.path.join(cloud["creds"], "%s_ed25519.pub" % cloud["a"]), encoding="utf-8") as f:
        public = f.read().strip()
    assert urllib.parse.unquote(config["sshkeys"]).strip() == public, config.get("sshkeys")
    r = launch(cloud, rendered, cloud["a"], "vm_destroy", cloud_request_vm=vm)
    assert r.rc == 0, r.text
    assert "%s/web/%s: destroyed" % (cloud["a"], vm) in r.text, r.text
    assert not [v for v in operator_api(cloud["env"]).cluster.resources.get(type="vm") if v.get("name") == vm]


@pytest.mark.parametrize(
    "answers, error",
    [
        (
            {"cloud_request_tenant": "{b}"},
            "refused: cloud_request_tenant {b}: the API token ic-{a}@pve!ironcloud is tenant {a}'s",
        ),
        (
            {"cloud_request_size": "giant"},
            "cloud_request_size: giant is not a size tenant {a} may use (one of huge, small)",
        ),
        (
            {"cloud_request_size": "huge"},
            "cloud_request_size: huge does not fit what remains of tenant {a}'s quota: cores 8 needed, 4 left",
        ),
        ({"cloud_request_network": "web/other"}, "cloud_request_network: web/other is not a network of tenant {a}"),
        ({"cloud_request_image": "debian-12"}, "cloud_request_image: debian-12 is not an image tenant {a} may use"),
        ({"cloud_request_vm": "Bad_Name"}, 'cloud_request_vm: "Bad_Name" is not a VM name'),
    ],
)
def test_answers_that_bypass_the_survey_are_refused(cloud, rendered, answers, error):
    answers = {k: v.format(b=cloud["b"]) for k, v in answers.items()}
    answers.setdefault("cloud_request_vm", cloud["a"] + "-vm2")
    r = launch(cloud, rendered, cloud["a"], "vm_create", **answers)
    assert r.rc != 0
    text = " ".join(r.text.split())
    assert error.format(a=cloud["a"], b=cloud["b"]) in text.replace("''", "'"), r.text
