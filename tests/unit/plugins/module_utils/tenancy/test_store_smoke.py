import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import SCHEMA_VERSION, open_store


def test_schema_is_current_and_reopen_is_idempotent(store, store_url):
    assert store.schema_version() == SCHEMA_VERSION
    again = open_store(store_url)
    assert again.schema_version() == SCHEMA_VERSION
    again.close()


def test_an_explicit_path_in_a_missing_directory_is_refused(tmp_path, monkeypatch):
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import StoreError

    monkeypatch.delenv("IRONCLOUD_STATE_STORE", raising=False)
    missing = tmp_path / "typo" / "state.db"
    with pytest.raises(StoreError, match=r"state_store: the directory .*typo of the SQLite file does not exist"):
        open_store("sqlite://" + str(missing))
    monkeypatch.setenv("IRONCLOUD_STATE_STORE", "sqlite://" + str(missing))
    with pytest.raises(StoreError, match="state_store: the directory"):
        open_store()
    assert not (tmp_path / "typo").exists()


def test_the_default_location_is_created(tmp_path, monkeypatch):
    monkeypatch.delenv("IRONCLOUD_STATE_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    store = open_store()
    assert store.schema_version() == SCHEMA_VERSION
    store.close()
    assert (tmp_path / "data" / "ironcloud" / "state.db").is_file()


def test_psycopg_is_imported_only_for_a_postgresql_store(tmp_path):
    """Importing the store (every SQLite user, the inventory plugin) does not pay for importing psycopg."""
    import os
    import subprocess
    import sys

    tests = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
    code = (
        "import sys; sys.path.insert(0, %r); import conftest\n"
        "from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import store\n"
        "s = store.open_store('sqlite://%s'); s.close()\n"
        "assert 'psycopg' not in sys.modules, 'psycopg imported for a SQLite store'\n"
        "from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import StoreError\n"
        "try:\n"
        "    store.open_store('postgresql://nobody@127.0.0.1:1/none', timeout=1)\n"
        "except StoreError as e:\n"
        "    assert 'cannot connect' in str(e), e\n"
        "assert 'psycopg' in sys.modules\n"
    ) % (tests, str(tmp_path / "state.db"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_migration_5_gives_the_leases_of_a_version_4_store_a_null_login_user(store_url, monkeypatch):
    """A store an older collection made (schema 4, a lease without login_user) opens at 5; the lease keeps its
    address and vmid, its login user is not known (null) until cloud_vm or cloud_address records it."""
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import store as store_module
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.addresses import ensure_address
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.networks import ensure_network
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.tenants import ensure_tenant

    assert SCHEMA_VERSION == 5
    now = 1_800_000_000.0
    with monkeypatch.context() as m:
        m.setattr(store_module, "SCHEMA_VERSION", 4)
        old = open_store(store_url)
        assert old.schema_version() == 4
        ensure_tenant(old, {"name": "acme", "projects": ["web"]}, False, now)
        ensure_network(old, {"tenant": "acme", "project": "web", "name": "front", "cidr": "10.0.0.0/24"}, False, now)
        old.run(
            lambda tx: tx.execute(
                "INSERT INTO leases (tenant, project, network, owner, address, addr_int, vmid, created) "
                "VALUES ('acme', 'web', 'front', 'web1/net0', '10.0.0.2', 167772162, 120, ?)",
                (now,),
            )
        )
        columns = old.run(lambda tx: tx.one("SELECT * FROM leases"), write=False) or {}
        assert "vmid" in columns and "login_user" not in columns
        old.close()
    migrated = open_store(store_url)
    try:
        assert migrated.schema_version() == 5
        row = migrated.run(lambda tx: tx.one("SELECT address, vmid, login_user FROM leases"), write=False)
        assert row == {"address": "10.0.0.2", "vmid": 120, "login_user": None}
        params = {"tenant": "acme", "project": "web", "network": "front", "owner": "web1/net0"}
        recorded = ensure_address(migrated, dict(params, vmid=120, login_user="debian"), False, now)
        assert recorded["changed"] and recorded["address"] == "10.0.0.2"
        assert recorded["diff"] == {"before": {"login_user": None}, "after": {"login_user": "debian"}}
    finally:
        migrated.close()
