# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: prometheus
type: aggregate
short_description: Metrics of a playbook run in the Prometheus text format (textfile collector or Pushgateway)
version_added: 0.1.0
description:
  - At the end of each playbook it writes the run's metrics to O(textfile), a file in the Prometheus text format
    for node_exporter's textfile collector (written to a temporary file and renamed, so the collector never reads
    half a file), and/or pushes them to the Pushgateway at O(pushgateway_url) (grouping key C(job) and
    C(playbook); a push replaces the previous run's metrics of that playbook).
  - 'The metrics, each with the label C(playbook) (the playbook''s file name):'
  - C(ironcloud_playbook_duration_seconds), C(ironcloud_playbook_last_run_timestamp_seconds) and
    C(ironcloud_playbook_success) (1 when no host failed or was unreachable, as in the recap).
  - C(ironcloud_tasks_total{status}), task results by status. The statuses are disjoint, unlike the recap's
    C(ok) which includes C(changed) - V(ok) (succeeded without change), V(changed), V(failed), V(ignored) (failed
    with C(ignore_errors)), V(skipped), V(unreachable). A loop counts once per host, with the status of the whole
    task.
  - C(ironcloud_vm_create_duration_seconds{tenant}), a histogram of how long the M(ironcloud.stack.proxmox_vm) and
    M(ironcloud.stack.cloud_vm) tasks that created or cloned a VM took, from the task starting on the host to its
    result (with a loop, from the end of the previous item). Check mode runs create nothing and are not measured.
  - C(ironcloud_vms_created_total{tenant}) and C(ironcloud_vms_destroyed_total{tenant}), from the C(actions) that
    M(ironcloud.stack.proxmox_vm) and M(ironcloud.stack.cloud_vm) return; the tenant is cloud_vm's C(vm.tenant), or
    read from the VM's C(ic-tenant-<t>) tag in the result (C(vm.config.tags), else C(diff.before)), empty when the
    result does not show it.
  - C(ironcloud_tenant_quota{tenant,resource}), C(ironcloud_tenant_used{tenant,resource}) and
    C(ironcloud_tenant_reserved{tenant,resource}), the last values that M(ironcloud.stack.cloud_usage_info) or
    M(ironcloud.stack.cloud_tenant) returned in the run (a quota that is not set is not exported).
  - Only numbers, playbook file names, statuses, tenant names and quota keys are exported; no host name, task
    argument, variable or secret is.
  - The counters count the run only; the file (or the Pushgateway group) is replaced by each run.
requirements:
  - prometheus-client (Python library)
  - enable in configuration, for example C(callbacks_enabled = ironcloud.stack.prometheus) in C(ansible.cfg)
options:
  textfile:
    description:
      - The file to write, for example V(/var/lib/node_exporter/textfile/ansible.prom) (the textfile collector
        reads files ending in C(.prom)). Its directory is created if missing.
    type: path
    env:
      - name: IRONCLOUD_PROMETHEUS_TEXTFILE
    ini:
      - section: callback_prometheus
        key: textfile
  pushgateway_url:
    description:
      - The Pushgateway to push the metrics to, for example V(http://pushgateway.example.com:9091).
      - A failed push is a warning; the playbook's result does not change.
    type: str
    env:
      - name: IRONCLOUD_PROMETHEUS_PUSHGATEWAY_URL
    ini:
      - section: callback_prometheus
        key: pushgateway_url
  job:
    description: The C(job) of the Pushgateway grouping key.
    type: str
    default: ansible
    env:
      - name: IRONCLOUD_PROMETHEUS_JOB
    ini:
      - section: callback_prometheus
        key: job
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# callbacks_enabled = ironcloud.stack.prometheus
# [callback_prometheus]
# textfile = /var/lib/node_exporter/textfile/ansible.prom

# or for one run:
# ANSIBLE_CALLBACKS_ENABLED=ironcloud.stack.prometheus \
# IRONCLOUD_PROMETHEUS_PUSHGATEWAY_URL=http://127.0.0.1:9091 ansible-playbook ironcloud.stack.vm_create
"""

import os
import time
from collections.abc import Mapping
from typing import Any

from ansible.plugins.callback import CallbackBase

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming

try:
    from prometheus_client import (
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        disable_created_metrics,
        push_to_gateway,
        write_to_textfile,
    )

    HAS_PROMETHEUS_CLIENT = True
    PROMETHEUS_CLIENT_IMPORT_ERROR: Exception | None = None
except ImportError as e:  # pragma: no cover - reported as a warning when the callback starts
    HAS_PROMETHEUS_CLIENT = False
    PROMETHEUS_CLIENT_IMPORT_ERROR = e

PROXMOX_VM = ("ironcloud.stack.proxmox_vm", "proxmox_vm", "ironcloud.stack.cloud_vm", "cloud_vm")
USAGE_MODULES = ("ironcloud.stack.cloud_usage_info", "ironcloud.stack.cloud_tenant", "cloud_usage_info", "cloud_tenant")
STATUSES = ("ok", "changed", "failed", "ignored", "skipped", "unreachable")
# Seconds: a clone of a small template takes seconds, a full clone of a big disk minutes.
CREATE_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


# ----------------------------------------------------------------------- pure helpers (unit-tested)


def action_of(task: Any) -> str:
    """The task's module as resolved (FQCN) when Ansible knows it, else as written."""
    return str(getattr(task, "resolved_action", None) or getattr(task, "action", "") or "")


def vm_actions(result: Mapping[str, Any]) -> list[str]:
    actions = result.get("actions")
    return [str(a) for a in actions] if isinstance(actions, list) else []


def created_vm(result: Mapping[str, Any]) -> bool:
    """Whether a proxmox_vm result created a VM (from scratch or as a clone)."""
    return bool(result.get("changed")) and any(a in ("created", "cloned") for a in vm_actions(result))


def destroyed_vm(result: Mapping[str, Any]) -> bool:
    return bool(result.get("changed")) and "destroyed" in vm_actions(result)


def tenant_of_vm(result: Mapping[str, Any]) -> str:
    """The tenant of the VM a proxmox_vm result describes, from its ic-tenant-<t> tag ('' without); a cloud_vm
    result names it."""
    vm = result.get("vm")
    if isinstance(vm, Mapping) and vm.get("tenant"):
        return str(vm["tenant"])
    tags = None
    diff = result.get("diff")
    for place in (result.get("vm"), diff.get("before") if isinstance(diff, Mapping) else None):
        if not isinstance(place, Mapping):
            continue
        config = place.get("config")
        tags = config.get("tags") if isinstance(config, Mapping) and config.get("tags") else place.get("tags")
        if tags:
            break
    return _naming.tenant_of_tags(tags if isinstance(tags, (str, list)) else None) or ""


def _numbers(values: Any) -> dict[str, float]:
    if not isinstance(values, Mapping):
        return {}
    out = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        out[str(key)] = float(value)
    return out


def tenant_usage(result: Mapping[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """{tenant: {"quota": {...}, "used": {...}, "reserved": {...}}} from a cloud_usage_info or cloud_tenant result.

    cloud_tenant returns ``tenant`` (one), cloud_usage_info ``tenants`` (a list); each entry has ``name``, ``quota``,
    ``used`` (or ``usage``) and ``reserved``. Values that are not numbers (an unset quota) are left out.
    """
    entries: list[Any] = []
    if isinstance(result.get("tenant"), Mapping):
        entries.append(result["tenant"])
    for key in ("tenants", "usage"):
        if isinstance(result.get(key), list):
            entries.extend(result[key])
    out: dict[str, dict[str, dict[str, float]]] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not entry.get("name"):
            continue
        used = entry.get("used") if isinstance(entry.get("used"), Mapping) else entry.get("usage")
        out[str(entry["name"])] = {
            "quota": _numbers(entry.get("quota")),
            "used": _numbers(used),
            "reserved": _numbers(entry.get("reserved")),
        }
    return out


def status_of(kind: str, result: Mapping[str, Any], ignore_errors: bool = False) -> str:
    """One of STATUSES for a result of the runner event kind ('ok', 'failed', 'skipped', 'unreachable')."""
    if kind == "ok":
        return "changed" if result.get("changed") else "ok"
    if kind == "failed" and ignore_errors:
        return "ignored"
    return kind


class RunMetrics:
    """What one playbook run measured; render() turns it into a registry."""

    def __init__(self, playbook: str, clock: Any = time.time) -> None:
        self.playbook = playbook
        self.clock = clock
        self.started = clock()
        self.ended: float | None = None
        self.tasks = dict.fromkeys(STATUSES, 0)
        self.create_durations: list[tuple[str, float]] = []
        self.created: dict[str, int] = {}
        self.destroyed: dict[str, int] = {}
        self.tenants: dict[str, dict[str, dict[str, float]]] = {}
        # From the recap when the run ends (ignored failures do not count); None: from the task results.
        self.failed_hosts: int | None = None

    def task(self, status: str) -> None:
        self.tasks[status] = self.tasks.get(status, 0) + 1

    def vm_result(self, result: Mapping[str, Any], seconds: float | None) -> None:
        tenant = tenant_of_vm(result)
        if created_vm(result):
            self.created[tenant] = self.created.get(tenant, 0) + 1
            if seconds is not None:
                self.create_durations.append((tenant, max(0.0, seconds)))
        if destroyed_vm(result):
            self.destroyed[tenant] = self.destroyed.get(tenant, 0) + 1

    def usage_result(self, result: Mapping[str, Any]) -> None:
        self.tenants.update(tenant_usage(result))

    def success(self) -> bool:
        if self.failed_hosts is not None:
            return self.failed_hosts == 0
        return self.tasks.get("failed", 0) == 0 and self.tasks.get("unreachable", 0) == 0

    def render(self) -> Any:
        disable_created_metrics()  # no *_created series: each run replaces the file, they would only add noise
        registry = CollectorRegistry()
        pb = self.playbook
        ended = self.ended if self.ended is not None else self.clock()
        Gauge(
            "ironcloud_playbook_duration_seconds", "Wall time of the playbook run.", ["playbook"], registry=registry
        ).labels(pb).set(max(0.0, ended - self.started))
        Gauge(
            "ironcloud_playbook_last_run_timestamp_seconds",
            "When the playbook run ended (Unix time).",
            ["playbook"],
            registry=registry,
        ).labels(pb).set(ended)
        Gauge(
            "ironcloud_playbook_success",
            "1 when no host failed or was unreachable in the run, else 0.",
            ["playbook"],
            registry=registry,
        ).labels(pb).set(1 if self.success() else 0)
        tasks = Counter(
            "ironcloud_tasks",
            "Task results of the run by status (ok means unchanged).",
            ["playbook", "status"],
            registry=registry,
        )
        for status in STATUSES:
            tasks.labels(pb, status).inc(self.tasks.get(status, 0))
        hist = Histogram(
            "ironcloud_vm_create_duration_seconds",
            "Duration of proxmox_vm tasks that created a VM.",
            ["playbook", "tenant"],
            buckets=CREATE_BUCKETS,
            registry=registry,
        )
        for tenant, seconds in self.create_durations:
            hist.labels(pb, tenant).observe(seconds)
        created = Counter(
            "ironcloud_vms_created",
            "VMs created (or cloned) by proxmox_vm in the run.",
            ["playbook", "tenant"],
            registry=registry,
        )
        destroyed = Counter(
            "ironcloud_vms_destroyed",
            "VMs destroyed by proxmox_vm in the run.",
            ["playbook", "tenant"],
            registry=registry,
        )
        for tenant in sorted(set(self.created) | set(self.destroyed)) or [""]:
            created.labels(pb, tenant).inc(self.created.get(tenant, 0))
            destroyed.labels(pb, tenant).inc(self.destroyed.get(tenant, 0))
        gauges = {
            kind: Gauge(
                "ironcloud_tenant_%s" % kind,
                "The tenant's %s per resource, as last reported in the run by cloud_usage_info or cloud_tenant." % kind,
                ["playbook", "tenant", "resource"],
                registry=registry,
            )
            for kind in ("quota", "used", "reserved")
        }
        for tenant, kinds in sorted(self.tenants.items()):
            for kind, gauge in gauges.items():
                for resource, value in sorted(kinds.get(kind, {}).items()):
                    gauge.labels(pb, tenant, resource).set(value)
        return registry


# ----------------------------------------------------------------------------------------- plugin


def _result_of(result: Any) -> Mapping[str, Any]:
    value = getattr(result, "result", None)
    if value is None:
        value = getattr(result, "_result", None)
    return value if isinstance(value, Mapping) else {}


def _task_of(result: Any) -> Any:
    return getattr(result, "task", None) or getattr(result, "_task", None)


def _host_of(result: Any) -> str:
    host = getattr(result, "host", None) or getattr(result, "_host", None)
    return host.get_name() if host is not None else ""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "ironcloud.stack.prometheus"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.run: RunMetrics | None = None
        # (host, task uuid) -> when the task (or its previous loop item) started on the host
        self.started: dict[tuple[str, str], float] = {}
        self.disabled = not HAS_PROMETHEUS_CLIENT

    def set_options(self, task_keys: Any = None, var_options: Any = None, direct: Any = None) -> None:
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        if not HAS_PROMETHEUS_CLIENT:
            self._display.warning(
                "ironcloud.stack.prometheus needs the prometheus-client Python library: %s"
                % PROMETHEUS_CLIENT_IMPORT_ERROR
            )
        elif not (self.get_option("textfile") or self.get_option("pushgateway_url")):
            self._display.warning(
                "ironcloud.stack.prometheus: set textfile or pushgateway_url (or "
                "IRONCLOUD_PROMETHEUS_TEXTFILE / IRONCLOUD_PROMETHEUS_PUSHGATEWAY_URL); no metrics "
                "will be written"
            )
            self.disabled = True

    # ------------------------------------------------------------------------- playbook events

    def v2_playbook_on_start(self, playbook: Any) -> None:
        name = os.path.basename(str(getattr(playbook, "_file_name", "") or "playbook"))
        self.run = RunMetrics(name)
        self.started = {}

    def v2_runner_on_start(self, host: Any, task: Any) -> None:
        self.started[(host.get_name(), str(task._uuid))] = time.time()

    def _elapsed(self, result: Any) -> float | None:
        task = _task_of(result)
        key = (_host_of(result), str(getattr(task, "_uuid", "")))
        began = self.started.get(key)
        now = time.time()
        self.started[key] = now  # the next loop item starts here
        return None if began is None else now - began

    def _measure(self, result: Any) -> None:
        """A proxmox_vm, cloud_usage_info or cloud_tenant result (a task's, or a loop item's)."""
        if self.run is None:
            return
        task = _task_of(result)
        action = action_of(task)
        values = _result_of(result)
        if action in PROXMOX_VM:
            seconds = self._elapsed(result)
            if not getattr(task, "check_mode", False) and not values.get("_ansible_check_mode"):
                self.run.vm_result(values, seconds)
        elif action in USAGE_MODULES and not values.get("failed"):
            self.run.usage_result(values)

    def _count(self, kind: str, result: Any, ignore_errors: bool = False) -> None:
        if self.run is None:
            return
        values = _result_of(result)
        self.run.task(status_of(kind, values, ignore_errors))
        if kind == "ok" and "results" not in values:
            self._measure(result)

    def v2_runner_on_ok(self, result: Any) -> None:
        self._count("ok", result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._count("failed", result, ignore_errors)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._count("skipped", result)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._count("unreachable", result)

    def v2_runner_item_on_ok(self, result: Any) -> None:
        self._measure(result)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        if self.run is None or self.disabled:
            return
        self.run.ended = time.time()
        failures, dark = getattr(stats, "failures", None), getattr(stats, "dark", None)
        if isinstance(failures, dict) and isinstance(dark, dict):
            self.run.failed_hosts = sum(1 for n in failures.values() if n) + sum(1 for n in dark.values() if n)
        registry = self.run.render()
        textfile = self.get_option("textfile")
        if textfile:
            try:
                directory = os.path.dirname(os.path.abspath(textfile))
                os.makedirs(directory, exist_ok=True)
                write_to_textfile(textfile, registry)
            except OSError as e:
                self._display.warning("ironcloud.stack.prometheus: cannot write %s: %s" % (textfile, e))
        url = self.get_option("pushgateway_url")
        if url:
            try:
                push_to_gateway(
                    url,
                    job=self.get_option("job"),
                    registry=registry,
                    grouping_key={"playbook": self.run.playbook},
                    timeout=10,
                )
            except (OSError, ValueError) as e:  # a failed push is a warning, never a failed playbook
                self._display.warning("ironcloud.stack.prometheus: push to %s failed: %s" % (url, e))
