from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import SCHEMA_VERSION, open_store


def test_schema_is_current_and_reopen_is_idempotent(store, store_url):
    assert store.schema_version() == SCHEMA_VERSION
    again = open_store(store_url)
    assert again.schema_version() == SCHEMA_VERSION
    again.close()
