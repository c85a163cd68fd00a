"""The lab's PostgreSQL: a cluster of its own for the shared state store backend, on 127.0.0.1:54329.

Debian's PostgreSQL 15 binaries (/usr/lib/postgresql/15/bin), never the machine's default cluster: the
data directory, the unix socket directory, the log and the pidfile are all under .lab/postgres, owned by the
`postgres` user (initdb refuses to run as root; every server command runs through `runuser -u postgres`).
The server listens on 127.0.0.1 only. `up` creates the role `ironcloud` (LOGIN CREATEDB, with a generated
password) and its database `ironcloud`, and publishes:
  IRONCLOUD_PG_URL       postgresql://ironcloud:<password>@127.0.0.1:54329/ironcloud
  IRONCLOUD_STATE_STORE  the same URL: the lab's cloud_* modules use PostgreSQL (their env fallback)
and the inventory var `ironcloud_state_store` (a lookup of that environment variable, so the password is not
written to the inventory). `down` stops the server (pg_ctl stop -m fast on its own data directory) and removes
.lab/postgres. The cluster is for tests: fsync and synchronous_commit are off.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from typing import Any

from .base import Lab, Layer, pid_alive, run, wait_for, write_private

BIN = "/usr/lib/postgresql/15/bin"
HOST = "127.0.0.1"
PORT = 54329
USER = "postgres"
ROLE = "ironcloud"
DATABASE = "ironcloud"


def _as_postgres(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    return run(["runuser", "-u", USER, "--", *argv], check=check)


class Postgres(Layer):
    name = "postgres"

    def _dir(self, lab: Lab) -> str:
        return os.path.dirname(lab.path("postgres", "x"))

    def _data(self, lab: Lab) -> str:
        return os.path.join(self._dir(lab), "data")

    def _pid(self, lab: Lab) -> int | None:
        # postmaster.pid's first line is the server's pid.
        return read_pid_first_line(os.path.join(self._data(lab), "postmaster.pid"))

    def _running(self, lab: Lab) -> bool:
        pid = self._pid(lab)
        return pid is not None and pid_alive(pid, "postgres")

    def _ready(self, lab: Lab) -> bool:
        result = run([os.path.join(BIN, "pg_isready"), "-h", HOST, "-p", str(PORT), "-t", "1"], check=False)
        return result.returncode == 0

    def _psql(self, lab: Lab, sql: str, database: str = "postgres") -> str:
        sock = os.path.join(self._dir(lab), "run")
        result = _as_postgres(
            [
                os.path.join(BIN, "psql"),
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                sock,
                "-p",
                str(PORT),
                "-d",
                database,
                "-c",
                sql,
            ]
        )
        return result.stdout.strip()

    def up(self, lab: Lab) -> None:
        directory = self._dir(lab)
        data = self._data(lab)
        sock = os.path.join(directory, "run")
        secrets_file = os.path.join(directory, "secrets.json")
        os.makedirs(sock, exist_ok=True)
        shutil.chown(directory, USER, USER)
        shutil.chown(sock, USER, USER)
        os.chmod(directory, 0o755)
        if not os.path.exists(os.path.join(data, "PG_VERSION")):
            shutil.rmtree(data, ignore_errors=True)
            _as_postgres(
                [
                    os.path.join(BIN, "initdb"),
                    "-D",
                    data,
                    "-U",
                    USER,
                    "--auth-local=peer",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ]
            )
        if not self._running(lab):
            options = " ".join(
                [
                    "-c listen_addresses=%s" % HOST,
                    "-p %d" % PORT,
                    "-k %s" % sock,
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=300",
                    "-c shared_buffers=64MB",
                    "-c unix_socket_permissions=0700",
                ]
            )
            _as_postgres(
                [
                    os.path.join(BIN, "pg_ctl"),
                    "-D",
                    data,
                    "-l",
                    os.path.join(directory, "postgres.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
        wait_for(lambda: self._running(lab) and self._ready(lab), 60, "the lab PostgreSQL")
        if not os.path.exists(secrets_file):
            write_private(secrets_file, json.dumps({"password": secrets.token_urlsafe(18)}))
        with open(secrets_file, encoding="utf-8") as f:
            password = json.load(f)["password"]
        exists = self._psql(lab, "SELECT 1 FROM pg_roles WHERE rolname = '%s'" % ROLE)
        verb = "ALTER" if exists == "1" else "CREATE"
        self._psql(lab, "%s ROLE %s LOGIN CREATEDB PASSWORD '%s'" % (verb, ROLE, password))
        if self._psql(lab, "SELECT 1 FROM pg_database WHERE datname = '%s'" % DATABASE) != "1":
            self._psql(lab, "CREATE DATABASE %s OWNER %s" % (DATABASE, ROLE))
        url = "postgresql://%s:%s@%s:%d/%s" % (ROLE, password, HOST, PORT, DATABASE)
        env = {"IRONCLOUD_PG_URL": url, "IRONCLOUD_STATE_STORE": url}
        inventory = {
            "all": {
                "vars": {
                    "ironcloud_state_store": "{{ lookup('ansible.builtin.env', 'IRONCLOUD_STATE_STORE') }}",
                }
            }
        }
        lab.publish(self.name, env=env, inventory=inventory, dir=directory, host=HOST, port=PORT)

    def down(self, lab: Lab) -> None:
        data = self._data(lab)
        if self._running(lab):
            _as_postgres([os.path.join(BIN, "pg_ctl"), "-D", data, "-m", "fast", "-w", "-t", "60", "stop"], check=False)
        shutil.rmtree(self._dir(lab), ignore_errors=True)

    def status(self, lab: Lab) -> dict[str, Any]:
        return {"up": self._running(lab) and self._ready(lab), "url": "postgresql://%s:%d/%s" % (HOST, PORT, DATABASE)}


def read_pid_first_line(path: str) -> int | None:
    try:
        with open(path, encoding="utf-8") as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None
