# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one librados connection of a module run, and JSON mon commands over it (no `ceph` CLI processes)."""

from __future__ import annotations

import errno
import json
import os
import traceback
from collections.abc import Iterable, Mapping
from typing import Any, Self

from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.common import CephError, ceph_argument_spec
from ansible_collections.ironcloud.stack.plugins.module_utils._module import Layer, Requirement

try:
    import rados

    HAS_RADOS = True
    RADOS_IMPORT_ERROR: str | None = None
except ImportError:
    rados = None
    HAS_RADOS = False
    RADOS_IMPORT_ERROR = traceback.format_exc()

try:
    import rbd

    HAS_RBD = True
    RBD_IMPORT_ERROR: str | None = None
except ImportError:
    rbd = None
    HAS_RBD = False
    RBD_IMPORT_ERROR = traceback.format_exc()


def librbd() -> Any:
    """The rbd module (python3-rbd), for the image and pool-init code; run_module checked the RBD requirement."""
    return rbd


def errno_name(rc: int) -> str:
    return errno.errorcode.get(abs(rc), str(rc))


class CephClient:
    """A librados cluster handle, opened once per module run (use as a context manager)."""

    def __init__(
        self,
        cluster: str = "ceph",
        conf: str | None = None,
        user: str = "client.admin",
        keyring: str | None = None,
        timeout: int = 30,
    ) -> None:
        self.cluster_name = cluster or "ceph"
        self.conf = conf
        self.user = user or "client.admin"
        self.keyring = keyring
        self.timeout = timeout
        self.handle: Any = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> CephClient:
        return cls(
            cluster=params.get("cluster") or "ceph",
            conf=params.get("conf"),
            user=params.get("user") or "client.admin",
            keyring=params.get("keyring"),
            timeout=params.get("timeout") or 30,
        )

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        if self.conf and not os.path.exists(self.conf):
            raise CephError(f"conf: {self.conf} does not exist", conf=self.conf)
        options = {
            "rados_mon_op_timeout": str(self.timeout),
            "rados_osd_op_timeout": str(self.timeout),
            "client_mount_timeout": str(self.timeout),
        }
        if self.keyring:
            options["keyring"] = self.keyring
        if "." not in self.user:
            raise CephError(f"user: expected an entity name such as client.admin, got {self.user!r}")
        try:
            # conffile '' searches the default places, $CEPH_CONF first; a name-less Rados() reads no config.
            handle = rados.Rados(conffile=self.conf or "", name=self.user, clustername=self.cluster_name, conf=options)
            handle.connect(timeout=self.timeout)
        except rados.Error as e:
            raise CephError(
                "cannot connect to Ceph cluster {!r} as {} (conf {}): {}".format(
                    self.cluster_name, self.user, self.conf or "$CEPH_CONF or the default", e
                )
            ) from e
        self.handle = handle

    def close(self) -> None:
        if self.handle is not None:
            self.handle.shutdown()
            self.handle = None

    # ------------------------------------------------------------ commands

    def mon(self, prefix: str, ok: Iterable[int] = (), inbuf: bytes = b"", **args: Any) -> Any:
        """Run one mon command with JSON output; returns the parsed output (None if empty).

        A return code in ok (negative errnos, e.g. -errno.ENOENT) is returned as {"rc": rc, "status": text}
        instead of raising; any other non-zero code raises CephError with cmd, rc and stderr.
        """
        cmd: dict[str, Any] = {"prefix": prefix, "format": "json"}
        cmd.update((k, v) for k, v in args.items() if v is not None)
        try:
            rc, out, status = self.handle.mon_command(json.dumps(cmd), inbuf, timeout=self.timeout)
        except rados.Error as e:
            raise CephError(f"ceph {prefix}: {e}", cmd=cmd) from e
        if rc != 0:
            if rc in set(ok):
                return {"rc": rc, "status": status}
            raise CephError(
                f"ceph {prefix} failed: {status.strip() or errno_name(rc)} ({errno_name(rc)})",
                cmd=cmd,
                rc=rc,
                stderr=status,
            )
        if not out:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return out.decode(errors="replace")

    def wait_for_latest_osdmap(self) -> None:
        """After a pool create/delete: librados caches the osdmap, and open_ioctx/pool_exists read the cache."""
        self.handle.wait_for_latest_osdmap()

    def open_ioctx(self, pool: str, namespace: str | None = None) -> Any:
        try:
            ioctx = self.handle.open_ioctx(pool)
        except rados.ObjectNotFound as e:
            raise CephError(f"pool {pool} does not exist", pool=pool) from e
        if namespace:
            ioctx.set_namespace(namespace)
        return ioctx

    # ------------------------------------------------------------ reads shared by the modules

    def osd_dump(self) -> dict[str, Any]:
        return self.mon("osd dump")

    def crush_rules(self) -> dict[int, str]:
        return {int(r["rule_id"]): r["rule_name"] for r in self.mon("osd crush rule dump")}

    def df(self) -> dict[str, dict[str, Any]]:
        """Pool usage by pool name (needs a mgr for fresh numbers; a brand-new pool may be missing)."""
        out = self.mon("df", detail="detail") or {}
        return {p["name"]: p.get("stats", {}) for p in out.get("pools", [])}

    def stored_bytes(self) -> dict[str, int]:
        """The bytes each pool stores (before replication), by pool name."""
        return {name: int(stats.get("stored", 0) or 0) for name, stats in self.df().items()}


def connect(module: Any) -> CephClient:
    client = CephClient.from_params(module.params)
    client.connect()
    return client


CEPH: Layer[CephClient] = Layer(
    name="ceph",
    argument_spec=ceph_argument_spec,
    connect=connect,
    requirements=(Requirement("rados (Debian/Ubuntu: python3-rados)", HAS_RADOS, RADOS_IMPORT_ERROR),),
)
# What the modules working on RBD images (or initialising pools for RBD) need beyond the CEPH layer.
RBD = Requirement("rbd (Debian/Ubuntu: python3-rbd)", HAS_RBD, RBD_IMPORT_ERROR)
