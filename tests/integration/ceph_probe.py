"""Client-side probes of the lab's Ceph, run by tests/integration/test_ceph.py with Debian's /usr/bin/python3.

The test venv's Python cannot import python3-rados (a Debian package for Debian's Python), so the tests run
this script in a subprocess; it prints one JSON object with what it observed. Usage:

    ceph_probe.py quota POOL                       # fill POOL past its object quota, then one more write
    ceph_probe.py tenant ENTITY KEYFILE OWN OTHER  # what ENTITY may do in OWN, in OTHER, and to the cluster
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time

import rados
import rbd

CONF = os.environ["CEPH_CONF"]


def admin() -> rados.Rados:
    c = rados.Rados(
        conffile=CONF, name="client.admin", conf={"rados_osd_op_timeout": "20", "rados_mon_op_timeout": "20"}
    )
    c.connect(timeout=10)
    return c


def pool_flags(c: rados.Rados, pool: str) -> list:
    r, out, err = c.mon_command(json.dumps({"prefix": "osd dump", "format": "json"}), b"", timeout=20)
    for p in json.loads(out)["pools"]:
        if p["pool_name"] == pool:
            return p["flags_names"].split(",")
    raise SystemExit("no pool %s" % pool)


def quota(pool: str) -> dict:
    """Write past max_objects; once the mgr has flagged the pool full, one more write must fail with EDQUOT
    at once (set_osdmap_full_try: without it librados would block the write until the quota is raised)."""
    c = admin()
    out: dict = {"pool": pool}
    with c.open_ioctx(pool) as io:
        written = 0
        for i in range(10):
            io.write_full("fill-%d" % i, b"x" * 1024)
            written += 1
        out["written_before_full"] = written
        start = time.monotonic()
        while "full" not in pool_flags(c, pool) and time.monotonic() - start < 60:
            time.sleep(0.2)
        out["flags"] = pool_flags(c, pool)
        out["seconds_until_full_flag"] = round(time.monotonic() - start, 2)
        c.wait_for_latest_osdmap()
        io.set_osdmap_full_try()
        start = time.monotonic()
        try:
            io.write_full("one-too-many", b"y" * 1024)
            out["over_quota_write"] = "succeeded"
        except rados.Error as e:
            out["over_quota_write"] = "failed"
            out["errno"] = getattr(e, "errno", None)
            out["errno_name"] = errno.errorcode.get(abs(getattr(e, "errno", 0) or 0))
        out["over_quota_write_seconds"] = round(time.monotonic() - start, 3)
        io.unset_osdmap_full_try()
    c.shutdown()
    return out


def attempt(fn) -> dict:
    try:
        fn()
        return {"ok": True}
    except (rados.Error, rbd.Error) as e:
        return {"ok": False, "error": type(e).__name__, "errno": getattr(e, "errno", None)}


def tenant(entity: str, keyfile: str, own: str, other: str) -> dict:
    with open(keyfile, encoding="utf-8") as f:
        key = f.read().strip()
    c = rados.Rados(
        conffile=CONF,
        name=entity,
        conf={"key": key, "keyring": "/dev/null", "rados_osd_op_timeout": "10", "rados_mon_op_timeout": "10"},
    )
    c.connect(timeout=10)
    out: dict = {}

    def write(pool: str) -> None:
        with c.open_ioctx(pool) as io:
            io.write_full("tenant-object", b"hello")
            assert io.read("tenant-object") == b"hello"

    def image(pool: str) -> None:
        with c.open_ioctx(pool) as io:
            rbd.RBD().create(io, "tenant-image", 4 << 20)

    out["write_own"] = attempt(lambda: write(own))
    out["image_own"] = attempt(lambda: image(own))
    out["write_other"] = attempt(lambda: write(other))
    out["image_other"] = attempt(lambda: image(other))
    r, _o, status = c.mon_command(
        json.dumps({"prefix": "osd pool create", "pool": own + "-sneaky", "pg_num": 8}), b"", timeout=10
    )
    out["pool_create"] = {"rc": r, "status": status}
    c.shutdown()
    return out


if __name__ == "__main__":
    if sys.argv[1] == "quota":
        result = quota(sys.argv[2])
    elif sys.argv[1] == "tenant":
        result = tenant(*sys.argv[2:6])
    else:
        raise SystemExit(__doc__)
    print(json.dumps(result))
