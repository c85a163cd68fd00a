# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state store: one interface, two backends (SQLite embedded, PostgreSQL shared), versioned schema.

    store = open_store("sqlite:///var/lib/ironcloud/state.db")   # or postgresql://user:pw@host/db
    result = store.run(lambda tx: ..., write=True)                 # one transaction, retried if needed

Everything the tenancy modules change happens inside one Store.run() call: the function receives a Tx,
reads and writes with portable SQL ('?' placeholders), and takes the locks it needs with tx.lock(name) (a
lock row; no-op on SQLite, whose BEGIN IMMEDIATE already holds the database's one write lock) or
tx.one_for_update() (SELECT ... FOR UPDATE on PostgreSQL). Locks are taken in one order: the global ones
('tenants', 'networks', 'placement') before a tenant's row, before a network's row; so there is no deadlock.
With dry_run=True (check mode) the same function runs and its transaction is rolled back.

SQLite: one file, WAL, BEGIN IMMEDIATE for every writing transaction, a busy timeout so 50 forks queue
rather than fail. PostgreSQL (psycopg 3): READ COMMITTED plus row locks; a transaction that fails with a
serialization failure or a deadlock is retried from the start.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.util import find_spec
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from ansible.module_utils.basic import env_fallback

from ansible_collections.ironcloud.stack.plugins.module_utils._module import Layer, Requirement
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import StoreError

# psycopg is imported when a postgresql:// store is opened, not with this file: importing it costs about 0.15 s
# of CPU, which every SQLite user (and the inventory plugin at every run) would pay for nothing.
HAS_PSYCOPG = find_spec("psycopg") is not None
PSYCOPG_IMPORT_ERROR: Exception | None = None if HAS_PSYCOPG else ImportError("No module named 'psycopg'")
psycopg: Any = None
dict_row: Any = None


def _load_psycopg() -> None:
    """Import psycopg (and its dict_row) into this module's globals, once."""
    global psycopg, dict_row
    if psycopg is None:
        import psycopg as module
        from psycopg.rows import dict_row as row

        psycopg, dict_row = module, row


T = TypeVar("T")

ENV = "IRONCLOUD_STATE_STORE"
DEFAULT_TIMEOUT = 60
RETRIES = 20

# ------------------------------------------------------------------ schema

# Each entry: the statements that take the schema from version i to i+1. {autoinc} is the backend's
# auto-incrementing integer primary key. Applied in one transaction under the migration lock.
MIGRATIONS: list[list[str]] = [
    [
        "CREATE TABLE ic_locks (name TEXT PRIMARY KEY)",
        "INSERT INTO ic_locks (name) VALUES ('tenants'), ('networks'), ('placement')",
        """CREATE TABLE tenants (
            name TEXT PRIMARY KEY,
            q_cores BIGINT, q_memory_mb BIGINT, q_disk_gb BIGINT, q_vms BIGINT,
            q_networks BIGINT, q_addresses BIGINT, q_storage_gb BIGINT,
            created DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE projects (
            tenant TEXT NOT NULL REFERENCES tenants (name),
            name TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (tenant, name))""",
        """CREATE TABLE networks (
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            name TEXT NOT NULL,
            vni INTEGER NOT NULL UNIQUE,
            cidr TEXT NOT NULL,
            gateway TEXT NOT NULL,
            tag INTEGER NOT NULL UNIQUE,
            mtu INTEGER NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (tenant, project, name),
            FOREIGN KEY (tenant, project) REFERENCES projects (tenant, name))""",
        """CREATE TABLE leases (
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            network TEXT NOT NULL,
            owner TEXT NOT NULL,
            address TEXT NOT NULL,
            addr_int BIGINT NOT NULL,
            vmid INTEGER,
            created DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (tenant, project, network, owner),
            UNIQUE (tenant, project, network, addr_int),
            FOREIGN KEY (tenant, project, network) REFERENCES networks (tenant, project, name))""",
        "CREATE INDEX leases_vmid ON leases (vmid)",
        """CREATE TABLE reservations (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            name TEXT,
            cores INTEGER NOT NULL,
            memory_mb INTEGER NOT NULL,
            disk_gb INTEGER NOT NULL,
            vms INTEGER NOT NULL,
            addresses INTEGER NOT NULL,
            node TEXT,
            groups TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            expires DOUBLE PRECISION NOT NULL,
            committed DOUBLE PRECISION,
            vmid INTEGER,
            FOREIGN KEY (tenant, project) REFERENCES projects (tenant, name))""",
        "CREATE INDEX reservations_tenant ON reservations (tenant, state)",
        "CREATE INDEX reservations_state ON reservations (state, expires)",
        """CREATE TABLE usage_events (
            id {autoinc},
            at DOUBLE PRECISION NOT NULL,
            event TEXT NOT NULL,
            reservation TEXT NOT NULL,
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            vmid INTEGER,
            cores INTEGER NOT NULL,
            memory_mb INTEGER NOT NULL,
            disk_gb INTEGER NOT NULL)""",
        "CREATE INDEX usage_events_tenant ON usage_events (tenant, at)",
        """CREATE TABLE node_flags (
            node TEXT PRIMARY KEY,
            maintenance INTEGER NOT NULL DEFAULT 0,
            reason TEXT,
            updated DOUBLE PRECISION NOT NULL)""",
    ],
    # 2: north-south. Provider networks (the pool of external addresses), project routers and the networks they
    # attach (a network has at most one router: its gateway address lives there), floating IPs; the tenant quota
    # key floating_ips.
    [
        "ALTER TABLE tenants ADD COLUMN q_floating_ips BIGINT",
        """CREATE TABLE provider_networks (
            name TEXT PRIMARY KEY,
            cidr TEXT NOT NULL,
            gateway TEXT NOT NULL,
            first_int BIGINT NOT NULL,
            last_int BIGINT NOT NULL,
            created DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE routers (
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            name TEXT NOT NULL,
            external INTEGER NOT NULL,
            snat INTEGER NOT NULL,
            provider TEXT REFERENCES provider_networks (name),
            external_address TEXT,
            external_int BIGINT,
            created DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (tenant, project, name),
            UNIQUE (provider, external_int),
            FOREIGN KEY (tenant, project) REFERENCES projects (tenant, name))""",
        """CREATE TABLE router_networks (
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            router TEXT NOT NULL,
            network TEXT NOT NULL,
            PRIMARY KEY (tenant, project, network),
            FOREIGN KEY (tenant, project, router) REFERENCES routers (tenant, project, name),
            FOREIGN KEY (tenant, project, network) REFERENCES networks (tenant, project, name))""",
        """CREATE TABLE floating_ips (
            provider TEXT NOT NULL REFERENCES provider_networks (name),
            address TEXT NOT NULL,
            addr_int BIGINT NOT NULL,
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            vm TEXT,
            network TEXT,
            fixed_address TEXT,
            created DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (provider, addr_int),
            UNIQUE (tenant, project, network, fixed_address),
            FOREIGN KEY (tenant, project) REFERENCES projects (tenant, name))""",
        "CREATE INDEX floating_ips_tenant ON floating_ips (tenant, project)",
    ],
    # 3: the billing ledger (_tenancy/ledger.py): usage_events gains the resource kind (vm, floating_ip,
    # storage_quota, tenant), the VM's power state, its name, when the row was written (recorded; at is when
    # the change took effect), who wrote it and why. Existing tenants and storage quotas get their first rows.
    [
        "ALTER TABLE usage_events ADD COLUMN kind TEXT NOT NULL DEFAULT 'vm'",
        "ALTER TABLE usage_events ADD COLUMN state TEXT",
        "ALTER TABLE usage_events ADD COLUMN name TEXT",
        "ALTER TABLE usage_events ADD COLUMN recorded DOUBLE PRECISION",
        "ALTER TABLE usage_events ADD COLUMN source TEXT",
        "ALTER TABLE usage_events ADD COLUMN note TEXT",
        "CREATE INDEX usage_events_resource ON usage_events (kind, tenant, reservation, at)",
        "INSERT INTO usage_events (at, event, reservation, tenant, project, cores, memory_mb, disk_gb, kind, "
        "recorded, source) SELECT created, 'created', name, name, '', 0, 0, 0, 'tenant', created, 'migration' "
        "FROM tenants",
        "INSERT INTO usage_events (at, event, reservation, tenant, project, cores, memory_mb, disk_gb, kind, "
        "recorded, source) SELECT created, 'set', name, name, '', 0, 0, q_storage_gb, 'storage_quota', created, "
        "'migration' FROM tenants WHERE q_storage_gb IS NOT NULL AND q_storage_gb > 0",
    ],
    # 4: node drains (_tenancy/drain.py): one row per VM of a drained node (node is where it was, its origin),
    # its target, and its state: planned, done (it left), returning (moving back after the maintenance).
    [
        """CREATE TABLE node_moves (
            node TEXT NOT NULL,
            vmid INTEGER NOT NULL,
            name TEXT,
            target TEXT NOT NULL,
            state TEXT NOT NULL,
            cores INTEGER NOT NULL,
            memory_mb INTEGER NOT NULL,
            tags TEXT NOT NULL DEFAULT '',
            created DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (node, vmid))""",
        "CREATE INDEX node_moves_state ON node_moves (state)",
    ],
    # 5: the way in. A lease records the login user of its VM (cloud_vm's ciuser, the user cloud-init makes):
    # the cloud inventory sets it as ansible_user. NULL: not known (the VM has no ciuser, or the lease was made
    # before this version or by cloud_address without login_user).
    [
        "ALTER TABLE leases ADD COLUMN login_user TEXT",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


# ------------------------------------------------------------------ options


def state_store_argument_spec() -> dict[str, Any]:
    """The state store options of every cloud_* module (doc fragment ironcloud.stack.state_store)."""
    return dict(
        state_store=dict(type="str", no_log=True, fallback=(env_fallback, [ENV])),
        state_store_timeout=dict(type="int", default=DEFAULT_TIMEOUT),
    )


def default_path() -> str:
    """$XDG_DATA_HOME/ironcloud/state.db, that is ~/.local/share/ironcloud/state.db by default."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "ironcloud", "state.db")


def redact(url: str) -> str:
    """The URL with its password replaced by ***, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable state_store URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc="%s:***@%s" % (user, netloc[1])))


def open_store(url: str | None = None, timeout: float = DEFAULT_TIMEOUT, migrate: bool = True) -> Store:
    """The store of url (None: $IRONCLOUD_STATE_STORE, else the default SQLite file), schema migrated.

    Only the default file's directory is created when missing: an explicit path (option or environment) in a
    directory that does not exist is an error, so a typo cannot start a new, empty store that bypasses every quota.
    """
    explicit = url or os.environ.get(ENV)
    url = explicit or "sqlite://" + default_path()
    if url.startswith("sqlite:"):
        store: Store = SqliteStore(sqlite_path(url), timeout, create_dir=not explicit)
    elif url.startswith(("postgresql:", "postgres:")):
        store = PostgresStore(url, timeout)
    else:
        raise StoreError(
            "state_store: %r is not a sqlite:///path or postgresql://... URL" % redact(url), option="state_store"
        )
    if migrate:
        store.migrate()
    return store


def sqlite_path(url: str) -> str:
    """sqlite:///abs/path.db -> /abs/path.db; sqlite:///~/x.db -> the home directory's x.db."""
    rest = url[len("sqlite:") :]
    if rest.startswith("//"):
        rest = rest[2:]
    rest = unquote(rest.split("?", 1)[0])
    if rest.startswith("/~"):
        rest = rest[1:]
    if not rest or rest == "/":
        raise StoreError("state_store: %r names no file (sqlite:///path/state.db)" % url, option="state_store")
    return os.path.abspath(os.path.expanduser(rest))


# ------------------------------------------------------------------ transactions


class Tx:
    """One transaction: portable SQL with '?' placeholders, rows as dicts."""

    def __init__(self, store: Store, cursor: Any) -> None:
        self.store = store
        self.cursor = cursor
        self.backend = store.backend

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.backend == "postgresql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.cursor.execute(self._sql(sql), tuple(params))
        return int(self.cursor.rowcount or 0)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.cursor.execute(self._sql(sql), tuple(params))
        return [dict(row) for row in self.cursor.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        self.cursor.execute(self._sql(sql), tuple(params))
        row = self.cursor.fetchone()
        return dict(row) if row is not None else None

    def written(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any]:
        """The one row a statement of this transaction just wrote (a StoreError if it is not there)."""
        row = self.one(sql, params)
        if row is None:
            raise StoreError("the state store lost a row this transaction wrote: %s" % sql)
        return row

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else next(iter(row.values()))

    def one_for_update(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        """SELECT ... FOR UPDATE on PostgreSQL (the row stays locked until the end of the transaction)."""
        return self.one(sql + (" FOR UPDATE" if self.backend == "postgresql" else ""), params)

    def lock(self, name: str) -> None:
        """Take the named lock until the end of the transaction."""
        if self.backend == "postgresql":
            self.execute("INSERT INTO ic_locks (name) VALUES (?) ON CONFLICT DO NOTHING", (name,))
            self.one_for_update("SELECT name FROM ic_locks WHERE name = ?", (name,))


class Store:
    """The interface both backends implement."""

    backend = ""
    url = ""

    def run(self, fn: Callable[[Tx], T], write: bool = True, dry_run: bool = False) -> T:
        """fn(tx) in one transaction: committed when it returns (rolled back with dry_run or on an error)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                with self._transaction(write) as cursor:
                    tx = Tx(self, cursor)
                    result = fn(tx)
                    if dry_run or not write:
                        raise _Rollback(result)
                return result
            except _Rollback as r:
                return r.result
            except Exception as e:
                if not self._retryable(e) or attempt >= RETRIES:
                    if self._is_backend_error(e):
                        raise self._translate(e) from None
                    raise
                time.sleep(random.uniform(0.005, 0.05) * attempt)

    def _transaction(self, write: bool) -> Any:
        """A context manager: a cursor inside one transaction, committed at the end, rolled back on an error."""
        raise NotImplementedError

    def _retryable(self, error: BaseException) -> bool:
        return False

    def _is_backend_error(self, error: BaseException) -> bool:
        return False

    def _translate(self, error: BaseException) -> BaseException:
        return error

    def schema_version(self) -> int:
        return int(self.run(lambda tx: tx.value("SELECT version FROM ic_schema"), write=False) or 0)

    def migrate(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _apply_migrations(self, tx: Tx, autoinc: str) -> int:
        """Inside the migration lock: create ic_schema if needed and apply the missing versions."""
        tx.execute("CREATE TABLE IF NOT EXISTS ic_schema (version INTEGER NOT NULL)")
        current = tx.value("SELECT version FROM ic_schema")
        if current is None:
            tx.execute("INSERT INTO ic_schema (version) VALUES (0)")
            current = 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                "state_store: the schema is version %d, newer than this collection knows (%d); "
                "upgrade ironcloud.stack" % (current, SCHEMA_VERSION),
                option="state_store",
            )
        for version in range(current, SCHEMA_VERSION):
            for statement in MIGRATIONS[version]:
                tx.execute(statement.replace("{autoinc}", autoinc))
        tx.execute("UPDATE ic_schema SET version = ?", (SCHEMA_VERSION,))
        return SCHEMA_VERSION - current


class _Rollback(Exception):
    def __init__(self, result: Any) -> None:
        super().__init__("rollback")
        self.result = result


# ------------------------------------------------------------------ SQLite


class SqliteStore(Store):
    backend = "sqlite"

    def __init__(self, path: str, timeout: float = DEFAULT_TIMEOUT, create_dir: bool = False) -> None:
        self.path = path
        self.url = "sqlite://" + path
        self.timeout = timeout
        directory = os.path.dirname(path)
        if not create_dir and not os.path.isdir(directory):
            raise StoreError(
                "state_store: the directory %s of the SQLite file does not exist; create it first (only the default "
                "location, %s, is created when missing)" % (directory, os.path.dirname(default_path())),
                option="state_store",
            )
        try:
            if create_dir:
                os.makedirs(directory, mode=0o700, exist_ok=True)
            if not os.path.exists(path):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            self.conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(
                "state_store: cannot open the SQLite file %s: %s" % (path, e), option="state_store"
            ) from None
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA busy_timeout = %d" % int(timeout * 1000))
        self.conn.execute("PRAGMA foreign_keys = ON")
        self._wal()

    def _wal(self) -> None:
        """WAL mode (persistent in the file); switching needs a moment alone, so retry while others hold it."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                self.conn.execute("PRAGMA synchronous = NORMAL")
                if str(mode).lower() == "wal":
                    return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise StoreError("state_store: %s: %s" % (self.path, e), option="state_store") from None
            if time.monotonic() > deadline:
                raise StoreError("state_store: %s: could not switch to WAL mode within %ss" % (self.path, self.timeout))
            time.sleep(random.uniform(0.01, 0.05))

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Any]:
        cursor = self.conn.cursor()
        cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield cursor
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        else:
            cursor.execute("COMMIT")
        finally:
            cursor.close()

    def _retryable(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.OperationalError) and ("locked" in str(error) or "busy" in str(error))

    def _is_backend_error(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.Error)

    def _translate(self, error: BaseException) -> BaseException:
        if self._retryable(error):
            return StoreError(
                "state_store: %s stayed locked for more than %ss (state_store_timeout): %s"
                % (self.path, self.timeout, error)
            )
        return StoreError("state_store: %s: %s" % (self.path, error))

    def migrate(self) -> None:
        try:
            version = self.conn.execute("SELECT version FROM ic_schema").fetchone()[0]
            if version == SCHEMA_VERSION:
                return
        except sqlite3.OperationalError:
            pass
        self.run(lambda tx: self._apply_migrations(tx, "INTEGER PRIMARY KEY AUTOINCREMENT"))

    def close(self) -> None:
        self.conn.close()


# ------------------------------------------------------------------ PostgreSQL

# pg_advisory_xact_lock key of schema migrations ('ironclou' as a 64-bit integer).
MIGRATION_LOCK = 0x69726F6E636C6F75


class PostgresStore(Store):
    backend = "postgresql"

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        try:
            if not HAS_PSYCOPG:
                raise PSYCOPG_IMPORT_ERROR or ImportError("psycopg")
            _load_psycopg()
        except ImportError as e:
            raise StoreError(
                "state_store: a postgresql:// store needs psycopg 3 (pip install 'psycopg[binary]'): %s" % e,
                option="state_store",
            ) from None
        self.url = url
        self.timeout = timeout
        self.shown = redact(url)
        try:
            self.conn = psycopg.connect(
                url, autocommit=False, row_factory=dict_row, connect_timeout=max(1, int(min(timeout, 30)))
            )
            self.conn.execute("SET lock_timeout = %d" % int(timeout * 1000))
            self.conn.commit()
        except psycopg.Error as e:
            raise StoreError(
                "state_store: cannot connect to %s: %s" % (self.shown, _pg_message(e, url)), option="state_store"
            ) from None

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Any]:
        cursor = self.conn.cursor()
        try:
            yield cursor
        except BaseException:
            self.conn.rollback()
            raise
        else:
            self.conn.commit()
        finally:
            cursor.close()

    def _retryable(self, error: BaseException) -> bool:
        return isinstance(error, (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected))

    def _is_backend_error(self, error: BaseException) -> bool:
        return isinstance(error, psycopg.Error)

    def _translate(self, error: BaseException) -> BaseException:
        if isinstance(error, psycopg.errors.LockNotAvailable):
            return StoreError(
                "state_store: %s: waited more than %ss for a lock (state_store_timeout)" % (self.shown, self.timeout)
            )
        return StoreError("state_store: %s: %s" % (self.shown, _pg_message(error, self.url)))

    def migrate(self) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.execute("SELECT version FROM ic_schema")
                row = cur.fetchone()
            self.conn.commit()
            if row is not None and row["version"] == SCHEMA_VERSION:
                return
        except psycopg.errors.UndefinedTable:
            self.conn.rollback()

        def apply(tx: Tx) -> int:
            tx.execute("SELECT pg_advisory_xact_lock(%d)" % MIGRATION_LOCK)
            return self._apply_migrations(tx, "BIGSERIAL PRIMARY KEY")

        self.run(apply)

    def close(self) -> None:
        self.conn.close()


def _pg_message(error: BaseException, url: str) -> str:
    """psycopg's message, first line, with the password (if it shows up) removed."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    password = urlsplit(url).password if "://" in url else None
    if password:
        text = text.replace(password, "***").replace(unquote(password), "***")
    return re.sub(r"password=\S+", "password=***", text)


def is_postgresql(params: Mapping[str, Any]) -> bool:
    return (params.get("state_store") or "").startswith(("postgresql:", "postgres:"))


STATE_STORE: Layer[Store] = Layer(
    name="state_store",
    argument_spec=state_store_argument_spec,
    connect=lambda module: open_store(module.params.get("state_store"), float(module.params["state_store_timeout"])),
    requirements=(Requirement("psycopg", HAS_PSYCOPG, PSYCOPG_IMPORT_ERROR, needed=is_postgresql),),
)
