# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Proxmox VE API client every compute module shares: connection options, requests, tasks.

One ProxmoxClient per module run wraps proxmoxer. It translates every failure into ProxmoxError with
a message a user can act on (the URL for an unreachable API, the CA for a TLS failure, the token for a
refused login), sends booleans as PVE wants them (1/0), and waits for tasks (UPIDs) reading their exit
status and, on failure, the end of their log.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from ansible.module_utils.basic import env_fallback

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import IroncloudError, ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._module import Layer, Requirement

try:
    import requests
    from proxmoxer import ProxmoxAPI
    from proxmoxer.core import AuthenticationError, ResourceException

    HAS_PROXMOXER = True
    PROXMOXER_IMPORT_ERROR: Exception | None = None
except ImportError as e:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_PROXMOXER = False
    PROXMOXER_IMPORT_ERROR = e

UPID_RE = re.compile(
    r"^UPID:(?P<node>[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):[0-9A-Fa-f]{8}:[0-9A-Fa-f]{8,9}:[0-9A-Fa-f]{8}:"
    r"(?P<type>[^:\s/]+):(?P<id>[^:\s/]*):(?P<user>[^:\s/]+):$"
)
# Lines of a failed task's log quoted in the error message.
TASK_LOG_TAIL = 10


class ProxmoxError(IroncloudError):
    """A Proxmox API request or task failed."""


def proxmox_argument_spec() -> dict[str, Any]:
    """The connection options of every module talking to the Proxmox API (doc fragment ironcloud.stack.proxmox)."""
    return dict(
        api_host=dict(type="str", required=True, fallback=(env_fallback, ["PROXMOX_HOST"])),
        api_port=dict(type="int", fallback=(env_fallback, ["PROXMOX_PORT"])),
        api_user=dict(type="str", fallback=(env_fallback, ["PROXMOX_USER"])),
        api_password=dict(type="str", no_log=True, fallback=(env_fallback, ["PROXMOX_PASSWORD"])),
        api_token_id=dict(type="str", no_log=False, fallback=(env_fallback, ["PROXMOX_TOKEN_ID"])),
        api_token_secret=dict(type="str", no_log=True, fallback=(env_fallback, ["PROXMOX_TOKEN_SECRET"])),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path", fallback=(env_fallback, ["PROXMOX_CA_PATH"])),
        api_timeout=dict(type="int", default=30),
    )


def to_api(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as PVE takes them: booleans as 1/0 (PVE refuses 'True'), None dropped."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = int(value) if isinstance(value, bool) else value
    return out


def parse_upid(upid: str) -> dict[str, str]:
    """The node, type, id and user of a task id, or ProxmoxError if it is not a UPID."""
    match = UPID_RE.match(str(upid))
    if not match:
        raise ProxmoxError("the Proxmox API returned %r where a task id (UPID) was expected" % (upid,))
    return {k: match.group(k) for k in ("node", "type", "id", "user")}


def task_succeeded(exitstatus: str | None) -> bool:
    """PVE's exit status of a stopped task: 'OK' and 'WARNINGS: n' are success, anything else is the error."""
    return exitstatus == "OK" or str(exitstatus).startswith("WARNINGS")


def poll_delays(first: float = 0.05, factor: float = 1.6, cap: float = 1.0) -> Callable[[], float]:
    """Delays between task polls: short at first (most tasks end at once), then at most one poll per cap seconds."""
    delay = [first]

    def next_delay() -> float:
        current = delay[0]
        delay[0] = min(cap, current * factor)
        return current

    return next_delay


class ProxmoxClient:
    """One connection to the Proxmox VE API, from the module's connection options."""

    def __init__(
        self,
        params: Mapping[str, Any],
        api: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.params = params
        self.url = "https://%s:%s/api2/json" % (params["api_host"], params.get("api_port") or 8006)
        self.requests = 0
        self._sleep = sleep
        self._clock = clock
        self._api = api if api is not None else self._connect()

    # ---------------------------------------------------------------- connection

    def _verify(self) -> Any:
        """requests' `verify`: False, True (the system CAs) or ca_path, which must be a readable file or directory.

        requests only looks at the path when it connects, and then fails with an OSError ("Could not find a
        suitable TLS CA certificate bundle") that is no ProxmoxError: the path is checked here, before any request.
        """
        if not self.params.get("validate_certs", True):
            return False
        ca_path = self.params.get("ca_path")
        if not ca_path:
            return True
        if not os.path.exists(ca_path):
            raise ValidationError(
                "ca_path: %s does not exist (give the PEM file of the CA that signed the API's certificate, "
                "or leave ca_path unset to use the system CAs)" % ca_path
            )
        if not os.access(ca_path, os.R_OK):
            raise ValidationError("ca_path: %s is not readable by this user" % ca_path)
        return ca_path

    def _connect(self) -> Any:
        p = self.params
        token_id, token_secret = p.get("api_token_id"), p.get("api_token_secret")
        if bool(token_id) != bool(token_secret):
            raise ProxmoxError("api_token_id and api_token_secret must be given together")
        if not token_id and not p.get("api_password"):
            raise ProxmoxError(
                "no credentials: give api_token_id and api_token_secret, or api_user and api_password "
                "(or their PROXMOX_* environment variables)"
            )
        kwargs: dict[str, Any] = dict(
            port=p.get("api_port") or 8006,
            verify_ssl=self._verify(),
            timeout=p.get("api_timeout") or 30,
            backend="https",
        )
        if token_id:
            if "!" not in token_id:
                raise ProxmoxError("api_token_id must be 'user@realm!tokenname', got %r" % token_id)
            user, name = token_id.split("!", 1)
            kwargs.update(user=user, token_name=name, token_value=token_secret)
        else:
            if not p.get("api_user"):
                raise ProxmoxError("api_user is required with api_password")
            kwargs.update(user=p["api_user"], password=p["api_password"])
        return self._call(lambda: ProxmoxAPI(p["api_host"], **kwargs), "log in")

    # ------------------------------------------------------------------ requests

    def _call(self, request: Callable[[], Any], what: str) -> Any:
        self.requests += 1
        try:
            return request()
        except ResourceException as e:
            if e.status_code == 401:
                raise ProxmoxError(
                    "authentication failed at %s: %s (check the API token or user and password)"
                    % (self.url, e.content),
                    status=401,
                ) from None
            detail = "; ".join("%s: %s" % kv for kv in sorted((e.errors or {}).items())) if e.errors else ""
            message = "%s failed: %s %s" % (what, e.status_code, (e.content or "").strip())
            raise ProxmoxError(
                message + (" (%s)" % detail if detail else ""), status=e.status_code, errors=e.errors or {}
            ) from None
        except AuthenticationError as e:
            raise ProxmoxError("authentication failed at %s: %s" % (self.url, e), status=401) from None
        except requests.exceptions.SSLError as e:
            ca = self.params.get("ca_path") or "the system CA bundle"
            raise ProxmoxError(
                "TLS verification of %s failed against %s: %s (set ca_path to the CA that signed the "
                "API's certificate)" % (self.url, ca, _root_cause(e))
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
            raise ProxmoxError("cannot reach the Proxmox API at %s: %s" % (self.url, _root_cause(e))) from None

    def get(self, path: str, **params: Any) -> Any:
        return self._call(lambda: self._api(path).get(**to_api(params)), "GET /%s" % path)

    def post(self, path: str, **params: Any) -> Any:
        return self._call(lambda: self._api(path).post(**to_api(params)), "POST /%s" % path)

    def put(self, path: str, **params: Any) -> Any:
        return self._call(lambda: self._api(path).put(**to_api(params)), "PUT /%s" % path)

    def delete(self, path: str, **params: Any) -> Any:
        return self._call(lambda: self._api(path).delete(**to_api(params)), "DELETE /%s" % path)

    def request(self, method: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """get/post/put/delete with the parameters as a dict, for API parameters named like an argument
        (PUT /access/acl takes `path`, a start takes `timeout`)."""
        values = to_api(params or {})
        verb = method.lower()
        return self._call(lambda: getattr(self._api(path), verb)(**values), "%s /%s" % (method.upper(), path))

    # --------------------------------------------------------------------- reads

    def resources(self, kind: str | None = None) -> list[dict[str, Any]]:
        """GET /cluster/resources (all kinds in one request when kind is None)."""
        return self.get("cluster/resources", type=kind) or []

    # --------------------------------------------------------------------- tasks

    def wait_task(self, upid: str, timeout: float, what: str = "") -> dict[str, Any]:
        """Wait until the task ends; its status dict, or ProxmoxError with the end of its log when it failed."""
        info = parse_upid(upid)
        node = info["node"]
        deadline = self._clock() + timeout
        delay = poll_delays()
        while True:
            status = self.get("nodes/%s/tasks/%s/status" % (node, upid))
            if status.get("status") == "stopped":
                break
            if self._clock() >= deadline:
                raise ProxmoxError(
                    "%s: task %s still running after %ss (raise timeout)" % (what or info["type"], upid, timeout),
                    upid=upid,
                )
            self._sleep(delay())
        exitstatus = status.get("exitstatus")
        if not task_succeeded(exitstatus):
            log = self.task_log_tail(node, upid)
            raise ProxmoxError(
                "%s failed: %s" % (what or "task %s" % info["type"], exitstatus), upid=upid, task_log=log
            )
        return status

    def task_log_tail(self, node: str, upid: str, lines: int = TASK_LOG_TAIL) -> list[str]:
        log = self.get("nodes/%s/tasks/%s/log" % (node, upid), start=0, limit=500) or []
        return [entry.get("t", "") for entry in log][-lines:]


def _root_cause(error: BaseException) -> str:
    """The innermost reason of a requests error, without urllib3's object reprs."""
    while error.__context__ is not None and error.__context__ is not error:
        error = error.__context__
    text = str(error)
    match = re.search(r"\[SSL: [A-Z_]+\] ([^(]+)", text) or re.search(r"\] (.+)$", text)
    return (match.group(1) if match else text).strip().rstrip(",")


PROXMOX: Layer[ProxmoxClient] = Layer(
    name="proxmox",
    argument_spec=proxmox_argument_spec,
    connect=lambda module: ProxmoxClient(module.params),
    requirements=(Requirement("proxmoxer", HAS_PROXMOXER, PROXMOXER_IMPORT_ERROR),),
)
