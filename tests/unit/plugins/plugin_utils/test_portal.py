"""The portal's AWX objects (plugin_utils/portal.py): every object the portal would send for the lab's spec is
accepted by the installed awx.awx modules' own argument specs, every survey by AWX's survey rules; choices are
lists with defaults among them, narrowed by the tenant's rights and what remains of its quota; pruning deletes
only marked objects the spec no longer has; the credential type injects what the modules read."""

from __future__ import annotations

import copy
import datetime
import os

import portal_check
import pytest
import yaml
from conftest import ROOT

from ansible_collections.ironcloud.stack.plugins.plugin_utils import portal

TODAY = datetime.date(2026, 11, 30)
SETTINGS = {
    "organization": "ironcloud",
    "project": "ironcloud",
    "scm_url": "https://git.example.com/cloud.git",
    "scm_branch": "main",
    "spec_path": "inventories/lab/cloud-spec.yml",
    "inventory_source_path": "inventories/lab-cloud/lab.cloud.yml",
    "state_store": "postgresql://ironcloud:pw@db/ironcloud",
    "proxmox_host": "pve1.example.com",
    "proxmox_port": "8006",
    "proxmox_ca": "",
    "operator_token": {"token_id": "root@pam!ironcloud", "token_secret": "op-secret"},
    "controller_credential": "awx",
    "refresh_rrule": "DTSTART:20260101T000000Z RRULE:FREQ=HOURLY;INTERVAL=1",
    "execution_environment": "",
}


def lab_spec():
    with open(os.path.join(ROOT, "inventories", "lab", "cloud-spec.yml"), encoding="utf-8") as f:
        v = yaml.safe_load(f)["all"]["vars"]
    return {
        "version": 1,
        "defaults": v["cloud_defaults"],
        "images": v["cloud_images"],
        "sizes": v["cloud_sizes"],
        "tenants": v["cloud_tenants"],
    }


def tokens(spec):
    return {
        t["name"]: {"token_id": "ic-%s@pve!ironcloud" % t["name"], "token_secret": "s-" + t["name"]}
        for t in spec["tenants"]
    }


def usage_of(name, free):
    return {"name": name, "free": free, "quota": {}, "used": {}, "reserved": {}, "projects": []}


def build(spec=None, usage=(), vms=None, toks=None, settings=None):
    spec = spec or lab_spec()
    return portal.objects(
        spec, list(usage), vms or {}, tokens(spec) if toks is None else toks, settings or SETTINGS, TODAY
    )


def by_name(result, name):
    return next(o for o in result["objects"] if o["name"] == name)


def question(jt, variable):
    return next(q for q in jt["args"]["survey_spec"]["spec"] if q["variable"] == variable)


def test_every_object_for_the_lab_spec_is_accepted_by_its_awx_module():
    result = build(vms={"acme": ["web1", "web2"]})
    kinds = {o["kind"] for o in result["objects"]}
    assert kinds == {
        "organizations",
        "credential_types",
        "projects",
        "credentials",
        "teams",
        "inventories",
        "inventory_sources",
        "job_templates",
        "schedules",
        "roles",
    }
    for o in result["objects"]:
        assert portal_check.check_args(o["module"], o["args"]) == [], o
        if o["kind"] not in ("roles", "organizations"):
            assert portal.is_marked(o["args"]["description"]), o
    names = {o["name"] for o in result["objects"] if o["kind"] == "job_templates"}
    for tenant in ("acme", "globex"):
        for action in ("vm_create", "vm_destroy", "k3s", "usage", "invoice"):
            assert "ironcloud %s %s" % (tenant, action) in names
    grants = [o["args"] for o in result["objects"] if o["kind"] == "roles" and o["args"]["role"] == "execute"]
    assert {
        "team": "ironcloud acme",
        "role": "execute",
        "job_templates": ["ironcloud acme vm_create"],
        "state": "present",
    } in grants
    assert all(g["team"].split()[1] == g["job_templates"][0].split()[1] for g in grants)  # own tenant's only


def test_the_checker_catches_what_a_module_would_refuse():
    """The argument spec check can fail: unknown option, a choice not offered, a missing required option, a
    survey given as a string."""
    assert portal_check.check_args("awx.awx.team", {"name": "x", "colour": "red"})
    assert portal_check.check_args("awx.awx.job_template", {"name": "x", "job_type": "deploy"})
    assert portal_check.check_args("awx.awx.role", {"team": "x"})  # role is required
    assert portal_check.check_args("awx.awx.job_template", {"name": "x", "survey_spec": "name: x"})
    assert portal_check.check_args("awx.awx.job_template", {"name": "x", "credentials": "a,b"})


def test_every_survey_follows_awx_rules_and_choices_are_lists():
    for o in build(vms={"acme": ["web1"]})["objects"]:
        survey = o["args"].get("survey_spec")
        if not survey:
            continue
        portal.check_survey(survey)
        for q in survey["spec"]:
            assert q["type"] in portal.SURVEY_TYPES
            if q["type"] == "multiplechoice":
                assert isinstance(q["choices"], list) and q["default"] in q["choices"], q


def test_choices_come_from_the_spec_and_what_remains_of_the_quota():
    spec = lab_spec()
    # acme has room for a small VM only (2 cores, 1536 MiB free), globex for nothing at all
    usage = [
        usage_of("acme", {"vms": 3, "cores": 2, "memory_mb": 1536, "disk_gb": 100}),
        usage_of("globex", {"vms": 0, "cores": 8, "memory_mb": 16384, "disk_gb": 200}),
    ]
    result = build(spec, usage, vms={"acme": ["web2", "web1"]})
    create = by_name(result, "ironcloud acme vm_create")
    assert question(create, "cloud_request_size")["choices"] == ["small"]
    assert "cores 2" in question(create, "cloud_request_size")["question_description"]
    assert question(create, "cloud_request_network")["choices"] == ["web/front", "data/db"]
    assert question(create, "cloud_request_image") == dict(
        question(create, "cloud_request_image"), choices=["debian-12"], default="debian-12"
    )
    assert question(by_name(result, "ironcloud acme vm_destroy"), "cloud_request_vm")["choices"] == ["web1", "web2"]
    g = by_name(result, "ironcloud globex vm_create")
    assert question(g, "cloud_request_size")["choices"] == ["medium", "small"]  # none fits: all, refused at run time
    assert "no size fits" in question(g, "cloud_request_size")["question_description"]
    assert question(by_name(result, "ironcloud globex k3s"), "k3s_agents")["max"] == 0
    # without VMs the destroy question is free text (a multiple choice needs choices)
    assert question(by_name(result, "ironcloud globex vm_destroy"), "cloud_request_vm")["type"] == "text"
    invoice = question(by_name(result, "ironcloud acme invoice"), "period")
    assert invoice["choices"][:2] == ["2026-10", "2026-09"] and invoice["default"] == "2026-10"
    assert by_name(result, "ironcloud acme usage")["args"]["extra_vars"]["usage_tenant"] == "acme"


def test_a_tenant_may_be_limited_to_some_sizes_and_images():
    spec = lab_spec()
    spec["images"]["ubuntu"] = {"vmid": 9001, "node": "pve1"}
    spec["tenants"][0]["sizes"] = ["medium"]
    spec["tenants"][0]["images"] = ["ubuntu"]
    create = by_name(build(spec), "ironcloud acme vm_create")
    assert question(create, "cloud_request_size")["choices"] == ["medium"]
    assert question(create, "cloud_request_size")["default"] == "medium"  # the spec's default is not allowed
    assert question(create, "cloud_request_image")["choices"] == ["ubuntu"]
    spec["tenants"][0]["sizes"] = ["huge"]
    with pytest.raises(portal.PortalError, match="tenant acme: sizes names 'huge', which is not in cloud_sizes"):
        build(spec)


def test_a_tenant_without_its_token_or_network_gets_no_job_template():
    spec = lab_spec()
    spec["tenants"][1]["projects"] = [{"name": "empty"}]
    toks = tokens(spec)
    del toks["acme"]
    result = build(spec, toks=toks)
    names = {o["name"] for o in result["objects"]}
    assert "ironcloud acme" in names  # the team
    assert not [n for n in names if n.startswith("ironcloud acme ") and n != "ironcloud acme"]
    assert "ironcloud globex vm_create" not in names and "ironcloud globex k3s" not in names
    assert "ironcloud globex usage" in names


def test_a_token_of_another_tenant_is_refused():
    spec = lab_spec()
    toks = tokens(spec)
    toks["acme"] = toks["globex"]
    with pytest.raises(portal.PortalError, match="tenant acme: its credentials file holds the token"):
        build(spec, toks=toks)


@pytest.mark.parametrize(
    "change, error",
    [
        ({"choices": "small\nmedium"}, "must be a non-empty list of strings .not a newline string."),
        ({"default": "huge"}, "'huge' is not among the choices"),
        ({"default": ""}, "a required choice needs a default"),
        ({"type": "dropdown"}, "'dropdown' is not one of"),
        ({"required": "yes"}, "required: must be a bool"),
        ({"variable": "cloud request"}, "is not a variable name"),
        ({"choices": ["a", "a"], "default": "a"}, "has duplicates"),
    ],
)
def test_check_survey_refuses_what_awx_would(change, error):
    survey = {
        "name": "s",
        "description": "d",
        "spec": [
            {
                "question_name": "Size",
                "variable": "size",
                "type": "multiplechoice",
                "required": True,
                "choices": ["small", "medium"],
                "default": "small",
            }
        ],
    }
    portal.check_survey(survey)
    survey["spec"][0].update(change)
    with pytest.raises(portal.PortalError, match=error):
        portal.check_survey(survey)


@pytest.mark.parametrize(
    "question, error",
    [
        ({"type": "integer", "min": 3, "max": 1}, "min 3 > max 1"),
        ({"type": "integer", "min": 0, "max": 5, "default": 9}, "outside min/max"),
        ({"type": "password", "default": "$encrypted$"}, "has no default"),
        ({"type": "text", "choices": ["a"]}, "only for multiplechoice"),
        ({"type": "text", "max": 3, "default": "toolong"}, "length is outside"),
    ],
)
def test_check_survey_bounds_and_defaults(question, error):
    q = dict({"question_name": "Q", "variable": "q", "required": False}, **question)
    with pytest.raises(portal.PortalError, match=error):
        portal.check_survey({"name": "s", "description": "d", "spec": [q]})


def test_check_survey_refuses_a_variable_asked_twice():
    q = {"question_name": "Q", "variable": "q", "type": "text", "required": False}
    with pytest.raises(portal.PortalError, match="q is asked twice"):
        portal.check_survey({"name": "s", "description": "d", "spec": [q, q]})


def test_prune_deletes_only_marked_objects_the_spec_no_longer_has():
    desired = build()["objects"]
    mark = portal.mark("x", "00000000")
    existing = {
        "job_templates": [
            {"name": "ironcloud acme vm_create", "description": mark, "organization": 1},
            {"name": "ironcloud initech vm_create", "description": mark, "organization": 1},  # tenant gone
            {"name": "hand made", "description": "not ours", "organization": 1},
            {"name": "no description", "description": None},
        ],
        "teams": [
            {"name": "ironcloud initech", "description": mark, "organization": 1},
            {"name": "ironcloud initech-ops", "description": "made by hand", "organization": 1},
        ],
        "inventory_sources": [{"name": "ironcloud initech", "description": mark, "inventory": 7}],
        "credentials": [{"name": "ironcloud initech", "description": mark, "organization": 1, "credential_type": 30}],
    }
    stale = portal.prune(desired, existing)
    assert [(o["kind"], o["name"]) for o in stale] == [
        ("job_templates", "ironcloud initech vm_create"),
        ("inventory_sources", "ironcloud initech"),
        ("credentials", "ironcloud initech"),
        ("teams", "ironcloud initech"),
    ]
    assert stale[1]["args"] == {"name": "ironcloud initech", "state": "absent", "inventory": 7}
    for o in stale:
        assert o["args"]["state"] == "absent"
        assert portal_check.check_args(o["module"], o["args"]) == [], o
    assert portal.prune(desired, {}) == []


def test_redact_hides_the_secrets_and_nothing_else():
    objs = build()["objects"]
    red = portal.redact(objs)
    creds = [o for o in red if o["kind"] == "credentials"]
    assert creds and all(o["args"]["inputs"]["token_secret"] == portal.SECRET for o in creds)
    assert all(o["args"]["inputs"]["state_store"] == portal.SECRET for o in creds)
    assert {o["args"]["inputs"]["token_id"] for o in creds} >= {"ic-acme@pve!ironcloud", "root@pam!ironcloud"}
    assert "s-acme" not in repr(red) and "op-secret" not in repr(red) and ":pw@" not in repr(red)
    assert [o for o in red if o["kind"] != "credentials"] == [o for o in objs if o["kind"] != "credentials"]
    assert objs[3]["args"]["inputs"]["token_secret"] == "op-secret"  # the original is untouched


def test_the_credential_type_injects_what_the_modules_read(tmp_path):
    ct = portal.credential_type("x")
    inputs = {
        "proxmox_host": "pve",
        "proxmox_port": "8006",
        "token_id": "ic-acme@pve!ironcloud",
        "token_secret": "sec",
        "state_store": "sqlite:///x.db",
        "proxmox_ca": "PEM",
    }
    env = portal_check.injected_env(ct, inputs, str(tmp_path))
    assert env["PROXMOX_TOKEN_ID"] == "ic-acme@pve!ironcloud" and env["PROXMOX_TOKEN_SECRET"] == "sec"
    assert env["IRONCLOUD_STATE_STORE"] == "sqlite:///x.db" and env["PROXMOX_HOST"] == "pve"
    with open(env["PROXMOX_CA_PATH"], encoding="utf-8") as f:
        assert f.read() == "PEM"
    env = portal_check.injected_env(ct, dict(inputs, proxmox_ca=""), str(tmp_path))
    assert env["PROXMOX_CA_PATH"] == ""  # the system CAs
    # what the modules and the inventory plugin read from the environment
    from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox import client

    fallbacks = {o["fallback"][1][0] for o in client.proxmox_argument_spec().values() if o.get("fallback")}
    assert set(env) - {"IRONCLOUD_STATE_STORE", portal.SSH_PUBLIC_KEY_ENV} <= fallbacks
    # the tenant's public key, which roles/vm (resolve.yml) reads from this variable when a request has no keys
    assert env[portal.SSH_PUBLIC_KEY_ENV] == ""
    env = portal_check.injected_env(ct, dict(inputs, ssh_public_key="ssh-ed25519 AAAA acme"), str(tmp_path))
    assert env[portal.SSH_PUBLIC_KEY_ENV] == "ssh-ed25519 AAAA acme"
    with open(os.path.join(ROOT, "roles", "vm", "tasks", "resolve.yml"), encoding="utf-8") as f:
        resolve = f.read()
    assert "lookup('ansible.builtin.env', '%s')" % portal.SSH_PUBLIC_KEY_ENV in resolve


def test_a_tenants_credential_carries_its_public_key():
    spec = lab_spec()
    with_key = {name: dict(t, ssh_public_key="ssh-ed25519 AAAA %s\n" % name) for name, t in tokens(spec).items()}
    objects = build(spec, toks=with_key)["objects"]
    creds = {o["name"]: o["args"]["inputs"] for o in objects if o["kind"] == "credentials"}
    assert creds["ironcloud acme"]["ssh_public_key"] == "ssh-ed25519 AAAA acme"
    assert "ssh_public_key" not in creds["ironcloud operator"]
    plain = [o["args"]["inputs"] for o in build(spec)["objects"] if o["kind"] == "credentials"]
    assert plain and all("ssh_public_key" not in inputs for inputs in plain)


def test_the_objects_do_not_change_between_runs_of_one_spec():
    first, second = build(), build(copy.deepcopy(lab_spec()))
    assert first == second
    spec = lab_spec()
    spec["sizes"]["large"] = {"cores": 4, "memory_mb": 4096, "disk_gb": 32}
    assert build(spec)["hash"] != first["hash"]
