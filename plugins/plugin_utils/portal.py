# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The self-service portal as AWX objects (docs/portal.md), computed on the controller by playbooks/portal.yml.

`objects()` turns the cloud spec, the store's usage (cloud_usage_info) and the tenants' VMs into the list of
objects the portal sends to AWX, each as the arguments of one awx.awx module, in the order they must be applied.
`prune()` picks, from the objects AWX has, the ones the portal made (their description starts with MARK) that the
spec no longer has. `check_survey()` checks a survey spec against AWX's rules. All pure: no AWX, no store.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming

MARK = "[ironcloud-portal"
SECRET = "$portal-secret$"
QUOTA_KEYS = ("cores", "memory_mb", "disk_gb")
SURVEY_TYPES = ("text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect")
# The AWX endpoints the portal prunes, with the module that deletes one object and the fields it needs besides the
# name. Organizations, role grants and the credential type's credentials of other owners are never pruned.
PRUNABLE = {
    "schedules": ("awx.awx.schedule", ()),
    "job_templates": ("awx.awx.job_template", ("organization",)),
    "inventory_sources": ("awx.awx.inventory_source", ("inventory",)),
    "inventories": ("awx.awx.inventory", ("organization",)),
    "credentials": ("awx.awx.credential", ("organization", "credential_type")),
    "teams": ("awx.awx.team", ("organization",)),
    "projects": ("awx.awx.project", ("organization",)),
    "credential_types": ("awx.awx.credential_type", ()),
}
# The job templates of a tenant: the action, the playbook in the AWX project, what it does.
ACTIONS = {
    "vm_create": ("playbooks/vm_create.yml", "create a VM in one of the tenant's project networks"),
    "vm_destroy": ("playbooks/vm_destroy.yml", "destroy one of the tenant's VMs"),
    "k3s": ("playbooks/k3s.yml", "a K3s cluster of VMs in one of the tenant's project networks"),
    "usage": ("playbooks/usage.yml", "the tenant's usage report (JSON, CSV, HTML)"),
    "invoice": ("playbooks/billing.yml", "the tenant's invoice for a closed month"),
}
SSH_PUBLIC_KEY_ENV = "IRONCLOUD_SSH_PUBLIC_KEY"
ENV_OF_FIELD = {
    "proxmox_host": "PROXMOX_HOST",
    "proxmox_port": "PROXMOX_PORT",
    "token_id": "PROXMOX_TOKEN_ID",
    "token_secret": "PROXMOX_TOKEN_SECRET",
    "state_store": "IRONCLOUD_STATE_STORE",
}


class PortalError(ValueError):
    """A portal object that AWX would refuse, or a spec the portal cannot serve; the message names the field."""


def spec_hash(spec: Mapping[str, Any]) -> str:
    """Eight hex digits of the spec's canonical JSON: the marks say which spec made an object."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:8]


def mark(text: str, digest: str) -> str:
    return "%s %s] %s" % (MARK, digest, text)


def is_marked(description: Any) -> bool:
    return isinstance(description, str) and description.startswith(MARK)


# ------------------------------------------------------------------------------------------------ choices


def _free(tenant: Mapping[str, Any], usage: Mapping[str, Any] | None) -> dict[str, int | None]:
    """What remains of the quota: the store's `free` when it knows the tenant, else the spec's quota (None is
    unlimited)."""
    if usage is not None:
        return {k: usage.get("free", {}).get(k) for k in (*QUOTA_KEYS, "vms")}
    quota = tenant.get("quota") or {}
    return {k: quota.get(k) for k in (*QUOTA_KEYS, "vms")}


def _fits(size: Mapping[str, Any], free: Mapping[str, int | None], count: int = 1) -> bool:
    if free.get("vms") is not None and int(free["vms"] or 0) < count:
        return False
    return all(free.get(k) is None or int(size.get(k, 0)) * count <= int(free[k] or 0) for k in QUOTA_KEYS)


def _free_text(free: Mapping[str, int | None]) -> str:
    parts = ["%s %s" % (k, "unlimited" if free.get(k) is None else free[k]) for k in ("vms", *QUOTA_KEYS)]
    return "quota left: " + ", ".join(parts)


def tenant_choices(
    spec: Mapping[str, Any], tenant: Mapping[str, Any], usage: Mapping[str, Any] | None, vms: Sequence[str]
) -> dict[str, Any]:
    """The survey choices of one tenant, each a list (never a newline string) with a default among them.

    sizes: the tenant's allowed sizes (`sizes` of the tenant, default every size of the spec) that fit what remains of
    its quota (all allowed ones when none fits: the playbook then refuses, naming the quota); images: the tenant's
    allowed images; networks: `<project>/<network>` of the tenant's projects (one question, so no dependent fields);
    vms: the tenant's VMs (for vm_destroy).
    """
    name = tenant["name"]
    sizes_all = dict(spec.get("sizes") or {})
    images_all = dict(spec.get("images") or {})
    defaults = spec.get("defaults") or {}
    allowed_sizes = [s for s in (tenant.get("sizes") or sorted(sizes_all)) if s in sizes_all]
    allowed_images = [i for i in (tenant.get("images") or sorted(images_all)) if i in images_all]
    for key, given, known in (("sizes", tenant.get("sizes"), sizes_all), ("images", tenant.get("images"), images_all)):
        for item in given or []:
            if item not in known:
                raise PortalError("tenant %s: %s names %r, which is not in cloud_%s" % (name, key, item, key))
    free = _free(tenant, usage)
    fitting = [s for s in allowed_sizes if _fits(sizes_all[s], free)]
    sizes = fitting or allowed_sizes
    networks = ["%s/%s" % (p["name"], n["name"]) for p in tenant.get("projects") or [] for n in p.get("networks") or []]

    def pick(choices: list[str], preferred: Any) -> str:
        return preferred if preferred in choices else (choices[0] if choices else "")

    return {
        "sizes": sizes,
        "size": pick(sizes, defaults.get("size")),
        "size_text": "; ".join(
            "%s: %s vCPU, %s MiB, %s GiB"
            % (s, sizes_all[s].get("cores"), sizes_all[s].get("memory_mb"), sizes_all[s].get("disk_gb"))
            for s in sizes
        ),
        "images": allowed_images,
        "image": pick(allowed_images, defaults.get("image")),
        "networks": networks,
        "network": networks[0] if networks else "",
        "vms": sorted(set(vms)),
        "free": free,
        "free_text": _free_text(free) + ("" if fitting else "; no size fits: a request will be refused"),
    }


# ------------------------------------------------------------------------------------------------ surveys


def _question(variable: str, name: str, description: str, qtype: str, **extra: Any) -> dict[str, Any]:
    q: dict[str, Any] = {
        "question_name": name,
        "question_description": description,
        "variable": variable,
        "type": qtype,
        "required": extra.pop("required", True),
    }
    q.update(extra)
    return q


def _choice(variable: str, name: str, description: str, choices: list[str], default: str) -> dict[str, Any]:
    return _question(variable, name, description, "multiplechoice", choices=list(choices), default=default)


def surveys(tenant: str, c: Mapping[str, Any], today: datetime.date) -> dict[str, dict[str, Any] | None]:
    """The survey of each action of the tenant; None where the tenant has nothing to offer (no network: no
    vm_create or k3s)."""
    vm_name = _question(
        "cloud_request_vm",
        "VM name",
        "the rule: " + _naming.NAME_RULE + "; unique in the cloud",
        "text",
        min=1,
        max=_naming.NAME_MAX,
        default="",
    )
    network = _choice("cloud_request_network", "Network", "project/network of the tenant", c["networks"], c["network"])
    size = _choice("cloud_request_size", "Size", c["size_text"] + " (" + c["free_text"] + ")", c["sizes"], c["size"])
    image = _choice("cloud_request_image", "Image", "a template of the cloud", c["images"], c["image"])
    sshkeys = _question(
        "cloud_request_sshkeys", "SSH public keys", "one per line (optional)", "textarea", required=False, default=""
    )
    out: dict[str, list[dict[str, Any]] | None] = {}
    can_create = bool(c["networks"] and c["sizes"] and c["images"])
    out["vm_create"] = [vm_name, network, size, image, sshkeys] if can_create else None
    if c["vms"]:
        victim = _choice("cloud_request_vm", "VM", "the VM to destroy (with its address)", c["vms"], c["vms"][0])
    else:
        victim = _question(
            "cloud_request_vm",
            "VM",
            "the tenant had no VM when this survey was made",
            "text",
            min=1,
            max=_naming.NAME_MAX,
            default="",
        )
    out["vm_destroy"] = [victim]
    free_vms = c["free"].get("vms")
    max_agents = 9 if free_vms is None else max(0, min(9, int(free_vms) - 1))
    out["k3s"] = (
        [
            _question(
                "k3s_cluster_name",
                "Cluster name",
                "names its VMs <name>-server, <name>-agent-<n>",
                "text",
                min=1,
                max=_naming.NAME_MAX - 9,
                default="",
            ),
            network,
            size,
            image,
            _question(
                "k3s_agents",
                "Agents",
                "agent VMs besides the server (quota allowing)",
                "integer",
                min=0,
                max=max_agents,
                default=min(1, max_agents),
            ),
        ]
        if can_create
        else None
    )
    out["usage"] = [
        _question(
            "usage_start",
            "From",
            "YYYY-MM-DD (empty: the start of the ledger)",
            "text",
            required=False,
            default="",
            min=0,
            max=10,
        ),
        _question(
            "usage_end",
            "Until",
            "YYYY-MM-DD, exclusive (empty: now)",
            "text",
            required=False,
            default="",
            min=0,
            max=10,
        ),
    ]
    periods = _closed_months(today, 12)
    out["invoice"] = [_choice("period", "Month", "a closed calendar month (UTC)", periods, periods[0])]
    return {
        action: None
        if qs is None
        else {
            "name": "ironcloud %s %s" % (tenant, action),
            "description": ACTIONS[action][1],
            "spec": qs,
        }
        for action, qs in out.items()
    }


def _closed_months(today: datetime.date, count: int) -> list[str]:
    year, month = today.year, today.month
    out = []
    for _month in range(count):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        out.append("%04d-%02d" % (year, month))
    return out


def check_survey(survey: Any, where: str = "survey_spec") -> None:
    """AWX's rules for a survey spec (awx/api/views survey_spec validation), raised as PortalError naming the
    field: a dict with name, description and spec, a list of questions; each question with question_name, variable
    (unique), type among SURVEY_TYPES, required a bool; choices a list of strings (never a newline string) for the
    choice types, with a default among them (multiselect: a list of them); min/max integers with min <= max, and a
    text default within them; integer/float defaults of their type within min/max."""
    if not isinstance(survey, Mapping):
        raise PortalError("%s: must be a dict, got %s" % (where, type(survey).__name__))
    for key in ("name", "description", "spec"):
        if key not in survey:
            raise PortalError("%s: %s is missing" % (where, key))
    if not isinstance(survey["name"], str) or not isinstance(survey["description"], str):
        raise PortalError("%s: name and description must be strings" % where)
    if not isinstance(survey["spec"], list) or not survey["spec"]:
        raise PortalError("%s.spec: must be a non-empty list of questions" % where)
    seen: set[str] = set()
    for i, q in enumerate(survey["spec"]):
        at = "%s.spec[%d]" % (where, i)
        if not isinstance(q, Mapping):
            raise PortalError("%s: must be a dict" % at)
        for key in ("question_name", "variable", "type", "required"):
            if key not in q:
                raise PortalError("%s: %s is missing" % (at, key))
        var = q["variable"]
        if not isinstance(var, str) or not var.isidentifier():
            raise PortalError("%s.variable: %r is not a variable name" % (at, var))
        if var in seen:
            raise PortalError("%s.variable: %s is asked twice" % (at, var))
        seen.add(var)
        if q["type"] not in SURVEY_TYPES:
            raise PortalError("%s.type: %r is not one of %s" % (at, q["type"], ", ".join(SURVEY_TYPES)))
        if not isinstance(q["required"], bool):
            raise PortalError("%s.required: must be a bool" % at)
        _check_bounds(at, q)
        _check_default(at, q)


def _check_bounds(at: str, q: Mapping[str, Any]) -> None:
    number = float if q["type"] == "float" else int
    for key in ("min", "max"):
        if key in q and (isinstance(q[key], bool) or not isinstance(q[key], (int, float) if number is float else int)):
            raise PortalError("%s.%s: must be a number, got %r" % (at, key, q[key]))
    if "min" in q and "max" in q and q["min"] > q["max"]:
        raise PortalError("%s: min %s > max %s" % (at, q["min"], q["max"]))


def _check_default(at: str, q: Mapping[str, Any]) -> None:
    qtype, default = q["type"], q.get("default")
    if qtype in ("multiplechoice", "multiselect"):
        choices = q.get("choices")
        if not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c for c in choices):
            raise PortalError(
                "%s.choices: must be a non-empty list of strings (not a newline string), got %r" % (at, choices)
            )
        if len(set(choices)) != len(choices):
            raise PortalError("%s.choices: %r has duplicates" % (at, choices))
        if qtype == "multiplechoice" and default not in (None, "") and default not in choices:
            raise PortalError("%s.default: %r is not among the choices %r" % (at, default, choices))
        if qtype == "multiplechoice" and q["required"] and default in (None, ""):
            raise PortalError("%s.default: a required choice needs a default among the choices" % at)
        if (qtype == "multiselect" and default not in (None, "")) and (
            not isinstance(default, list) or any(d not in choices for d in default)
        ):
            raise PortalError("%s.default: %r must be a list of the choices %r" % (at, default, choices))
        return
    if "choices" in q:
        raise PortalError("%s.choices: only for multiplechoice and multiselect" % at)
    if qtype in ("integer", "float") and default not in (None, ""):
        if isinstance(default, bool) or not isinstance(default, int if qtype == "integer" else (int, float)):
            raise PortalError("%s.default: %r is not an %s" % (at, default, qtype))
        if ("min" in q and default < q["min"]) or ("max" in q and default > q["max"]):
            raise PortalError("%s.default: %r is outside min/max" % (at, default))
    if qtype in ("text", "textarea", "password"):
        if default is not None and not isinstance(default, str):
            raise PortalError("%s.default: must be a string" % at)
        if qtype == "password" and default not in (None, ""):
            raise PortalError("%s.default: a password question has no default (AWX would keep it as $encrypted$)" % at)
        if default and (("min" in q and len(default) < q["min"]) or ("max" in q and len(default) > q["max"])):
            raise PortalError("%s.default: its length is outside min/max" % at)


# ------------------------------------------------------------------------------------------------ objects


def credential_type(digest: str) -> dict[str, Any]:
    """The custom credential type: the tenant's Proxmox token and the state store, injected the way the modules
    and the inventory plugin read them (their environment fallbacks)."""
    fields: list[dict[str, Any]] = [
        {"id": "proxmox_host", "label": "Proxmox API host", "type": "string"},
        {"id": "proxmox_port", "label": "Proxmox API port", "type": "string", "default": "8006"},
        {"id": "token_id", "label": "API token id (ic-<tenant>@pve!<name>)", "type": "string"},
        {"id": "token_secret", "label": "API token secret", "type": "string", "secret": True},
        {"id": "state_store", "label": "State store URL", "type": "string", "secret": True},
        {
            "id": "proxmox_ca",
            "label": "CA certificate of the API (PEM; empty: the system CAs)",
            "type": "string",
            "multiline": True,
        },
        {
            "id": "ssh_public_key",
            "label": "The tenant's SSH public key (OpenSSH): its VMs' login key when a request gives none",
            "type": "string",
            "multiline": True,
        },
    ]
    env = {var: "{{ %s }}" % field for field, var in ENV_OF_FIELD.items()}
    env["PROXMOX_CA_PATH"] = "{% if proxmox_ca %}{{ tower.filename.ca }}{% endif %}"
    # vm_create.yml's default sshkeys (roles/vm: the tenant's key pair, whose private half the tenant holds)
    env[SSH_PUBLIC_KEY_ENV] = "{{ ssh_public_key }}"
    return {
        "name": "ironcloud tenant",
        "description": mark("a tenant's Proxmox API token and the cloud's state store", digest),
        "kind": "cloud",
        "inputs": {"fields": fields, "required": ["proxmox_host", "token_id", "token_secret", "state_store"]},
        "injectors": {"env": env, "file": {"template.ca": "{{ proxmox_ca }}"}},
    }


def _obj(kind: str, module: str, args: dict[str, Any], secret: bool = False) -> dict[str, Any]:
    return {"kind": kind, "module": module, "name": args["name"], "args": args, "secret": secret}


def objects(
    spec: Mapping[str, Any],
    usage: Sequence[Mapping[str, Any]],
    vms: Mapping[str, Sequence[str]],
    tokens: Mapping[str, Mapping[str, Any]],
    settings: Mapping[str, Any],
    today: datetime.date,
) -> dict[str, Any]:
    """Every object of the portal, in the order to apply, each {kind, module, name, args, secret}.

    spec: cloud_spec_data; usage: cloud_usage_info's tenants; vms: tenant -> its VM names; tokens: tenant ->
    {token_id, token_secret} (a tenant without its token gets no credential and no job template); settings:
    organization, project, scm_url, scm_branch, spec_path, inventory_source_path, proxmox_host, proxmox_port,
    proxmox_ca, state_store, operator_token (token_id, token_secret), controller_credential, refresh_rrule,
    execution_environment. Secrets stay in args (the caller hides them with no_log and in the render).
    """
    digest = spec_hash(spec)
    org = settings["organization"]
    project = settings["project"]
    by_name = {t["name"]: t for t in usage}
    out: list[dict[str, Any]] = []
    out.append(
        _obj(
            "organizations",
            "awx.awx.organization",
            {"name": org, "description": mark("the ironcloud self-service portal", digest), "state": "present"},
        )
    )
    out.append(_obj("credential_types", "awx.awx.credential_type", dict(credential_type(digest), state="present")))
    out.append(
        _obj(
            "projects",
            "awx.awx.project",
            {
                "name": project,
                "description": mark("the ironcloud.stack playbooks and the cloud spec", digest),
                "organization": org,
                "scm_type": "git",
                "scm_url": settings["scm_url"],
                "scm_branch": settings["scm_branch"],
                "scm_update_on_launch": True,
                "state": "present",
            },
        )
    )
    # the spec in the AWX project (a path relative to its root), or an absolute path on the execution node
    spec_path = settings["spec_path"]
    extra_vars = {"cloud_spec": spec_path if spec_path.startswith("/") else "{{ playbook_dir }}/../" + spec_path}
    ee = {"execution_environment": settings["execution_environment"]} if settings.get("execution_environment") else {}

    def credential_inputs(token: Mapping[str, Any]) -> dict[str, Any]:
        inputs = {
            "proxmox_host": settings["proxmox_host"],
            "proxmox_port": str(settings["proxmox_port"]),
            "token_id": token["token_id"],
            "token_secret": token["token_secret"],
            "state_store": settings["state_store"],
            "proxmox_ca": settings.get("proxmox_ca") or "",
        }
        if token.get("ssh_public_key"):
            inputs["ssh_public_key"] = str(token["ssh_public_key"]).strip()
        return inputs

    operator = settings.get("operator_token")
    if operator:
        out.append(
            _obj(
                "credentials",
                "awx.awx.credential",
                {
                    "name": "ironcloud operator",
                    "description": mark("the operator's token, for the portal's refresh", digest),
                    "organization": org,
                    "credential_type": "ironcloud tenant",
                    "inputs": credential_inputs(operator),
                    "update_secrets": True,
                    "state": "present",
                },
                secret=True,
            )
        )
    grants: list[dict[str, Any]] = []
    for tenant in spec.get("tenants") or []:
        name = _naming.check_name("tenant", tenant.get("name"))
        if tenant.get("state", "present") == "absent":
            continue
        team = "ironcloud %s" % name
        out.append(
            _obj(
                "teams",
                "awx.awx.team",
                {
                    "name": team,
                    "description": mark("tenant %s: may launch its job templates" % name, digest),
                    "organization": org,
                    "state": "present",
                },
            )
        )
        token = tokens.get(name)
        if not token:
            continue
        if _naming.tenant_of_token(token.get("token_id")) != name:
            raise PortalError(
                "tenant %s: its credentials file holds the token %r, not one of tenant %s"
                % (name, token.get("token_id"), name)
            )
        cred = "ironcloud %s" % name
        out.append(
            _obj(
                "credentials",
                "awx.awx.credential",
                {
                    "name": cred,
                    "description": mark("tenant %s: its Proxmox API token and the state store" % name, digest),
                    "organization": org,
                    "credential_type": "ironcloud tenant",
                    "inputs": credential_inputs(token),
                    "update_secrets": True,
                    "state": "present",
                },
                secret=True,
            )
        )
        inventory = "ironcloud %s" % name
        out.append(
            _obj(
                "inventories",
                "awx.awx.inventory",
                {
                    "name": inventory,
                    "description": mark("tenant %s: its VMs (ironcloud.stack.cloud)" % name, digest),
                    "organization": org,
                    "state": "present",
                },
            )
        )
        out.append(
            _obj(
                "inventory_sources",
                "awx.awx.inventory_source",
                {
                    "name": inventory,
                    "description": mark("tenant %s: the ironcloud.stack.cloud plugin" % name, digest),
                    "inventory": inventory,
                    "organization": org,
                    "source": "scm",
                    "source_project": project,
                    "source_path": settings["inventory_source_path"],
                    "credential": cred,
                    "update_on_launch": True,
                    "overwrite": True,
                    "state": "present",
                },
            )
        )
        c = tenant_choices(spec, tenant, by_name.get(name), vms.get(name, ()))
        tenant_vars = dict(extra_vars, usage_tenant=name, billing_tenant=name, cloud_request_tenant=name)
        for action, survey in surveys(name, c, today).items():
            if survey is None:
                continue
            jt = "ironcloud %s %s" % (name, action)
            out.append(
                _obj(
                    "job_templates",
                    "awx.awx.job_template",
                    dict(
                        {
                            "name": jt,
                            "description": mark("tenant %s: %s" % (name, ACTIONS[action][1]), digest),
                            "organization": org,
                            "project": project,
                            "playbook": ACTIONS[action][0],
                            "inventory": inventory,
                            "credentials": [cred],
                            "job_type": "run",
                            "extra_vars": tenant_vars,
                            "ask_variables_on_launch": False,
                            "survey_enabled": True,
                            "survey_spec": survey,
                            "state": "present",
                        },
                        **ee,
                    ),
                )
            )
            grants.append(
                _obj(
                    "roles",
                    "awx.awx.role",
                    {
                        "name": "%s execute %s" % (team, jt),
                        "team": team,
                        "role": "execute",
                        "job_templates": [jt],
                        "state": "present",
                    },
                )
            )
        grants.append(
            _obj(
                "roles",
                "awx.awx.role",
                {
                    "name": "%s read %s" % (team, inventory),
                    "team": team,
                    "role": "read",
                    "inventories": [inventory],
                    "state": "present",
                },
            )
        )
    refresh = "ironcloud portal refresh"
    out.append(
        _obj(
            "inventories",
            "awx.awx.inventory",
            {
                "name": "ironcloud portal",
                "description": mark("localhost only: the portal's refresh runs there", digest),
                "organization": org,
                "state": "present",
            },
        )
    )
    creds = (["ironcloud operator"] if operator else []) + (
        [settings["controller_credential"]] if settings.get("controller_credential") else []
    )
    out.append(
        _obj(
            "job_templates",
            "awx.awx.job_template",
            dict(
                {
                    "name": refresh,
                    "description": mark("rewrites the surveys from the spec and the store", digest),
                    "organization": org,
                    "project": project,
                    "playbook": "playbooks/portal.yml",
                    "inventory": "ironcloud portal",
                    "credentials": creds,
                    "job_type": "run",
                    "job_tags": "surveys",
                    "extra_vars": extra_vars,
                    "ask_variables_on_launch": False,
                    "survey_enabled": False,
                    "state": "present",
                },
                **ee,
            ),
        )
    )
    out.append(
        _obj(
            "schedules",
            "awx.awx.schedule",
            {
                "name": refresh,
                "description": mark("refresh the surveys", digest),
                "unified_job_template": refresh,
                "organization": org,
                "rrule": settings["refresh_rrule"],
                "enabled": True,
                "state": "present",
            },
        )
    )
    # role names are not AWX object names: the module gets no `name`
    for g in grants:
        g["args"] = {k: v for k, v in g["args"].items() if k != "name"}
    out.extend(grants)
    for o in out:
        if o["kind"] == "job_templates" and o["args"].get("survey_spec"):
            check_survey(o["args"]["survey_spec"], "%s survey_spec" % o["name"])
    return {"hash": digest, "objects": out}


def redact(objs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The objects with the secret inputs of credentials replaced by SECRET (for the render file and the output)."""
    secret_fields = {f["id"] for f in credential_type("")["inputs"]["fields"] if f.get("secret")}
    out = []
    for o in objs:
        o = json.loads(json.dumps(o))
        if o.get("secret"):
            o["args"]["inputs"] = {
                k: (SECRET if k in secret_fields and v else v) for k, v in o["args"]["inputs"].items()
            }
        out.append(o)
    return out


def prune(desired: Sequence[Mapping[str, Any]], existing: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict]:
    """The marked objects AWX has that are not desired any more, as module calls with state absent, in the order
    to delete them (dependents first). `existing` is the AWX API's records by endpoint (name, description and the
    related ids). An object whose description does not start with MARK is never touched."""
    want = {(o["kind"], o["name"]) for o in desired}
    out: list[dict[str, Any]] = []
    for kind, (module, related) in PRUNABLE.items():
        for record in existing.get(kind) or []:
            if not is_marked(record.get("description")) or (kind, record.get("name")) in want:
                continue
            args: dict[str, Any] = {"name": record["name"], "state": "absent"}
            for key in related:
                if record.get(key) is not None:
                    args[key] = record[key]
            out.append({"kind": kind, "module": module, "name": record["name"], "args": args, "secret": False})
    return out
