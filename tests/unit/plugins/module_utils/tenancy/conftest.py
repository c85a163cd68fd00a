"""Fixtures of the tenancy tests: a state store on each backend.

`store` is parametrized: `sqlite` (a file in tmp_path) and `postgresql` (a fresh database per test module on
the lab's PostgreSQL, $IRONCLOUD_PG_URL or .lab/env.json, and a fresh schema per test). Without a reachable
PostgreSQL the postgresql cases fail with the reason (a skipped backend is not a pass); `make units` starts the
lab's PostgreSQL first.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, open_store

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
)


def pg_url() -> str | None:
    url = os.environ.get("IRONCLOUD_PG_URL")
    if url:
        return url
    path = os.path.join(ROOT, ".lab", "env.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("IRONCLOUD_PG_URL")
    return None


def with_database(url: str, database: str, schema: str | None = None) -> str:
    parts = urlsplit(url)
    query = "options=-csearch_path%%3D%s" % schema if schema else ""
    return urlunsplit(parts._replace(path="/" + database, query=query))


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A database of its own for this test module, dropped at its end; its URL."""
    url = pg_url()
    if not url:
        pytest.fail("no PostgreSQL: run `make units` (it starts the lab's) or set IRONCLOUD_PG_URL")
    import psycopg

    name = "ic_test_%s" % uuid.uuid4().hex[:12]
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute("CREATE DATABASE %s" % name)
    except psycopg.OperationalError as e:
        pytest.fail("PostgreSQL at $IRONCLOUD_PG_URL is not reachable: %s" % str(e).splitlines()[0])
    yield with_database(url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


def fresh_pg_schema(database_url: str) -> str:
    import psycopg

    schema = "t_%s" % uuid.uuid4().hex[:12]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA %s" % schema)
    parts = urlsplit(database_url)
    return with_database(database_url, parts.path.lstrip("/"), schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: Any, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return "sqlite://" + str(tmp_path / "state.db")
    return fresh_pg_schema(request.getfixturevalue("pg_database"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()
