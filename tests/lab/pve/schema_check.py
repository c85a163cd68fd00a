"""Check recorded API requests against the PVE 8.4 and 9.1 schemas (tests/lab/pve/schemas, xz-compressed).

Each request in .lab/pve/requests.jsonl is resolved to its path template and its parameters are
validated with fakepve's validator against each schema; a path or method unknown to a schema, or a
parameter it refuses, is a problem.
"""

from __future__ import annotations

import functools
import json
import lzma
import os
import sys
from collections.abc import Iterable
from typing import Any

from fakepve import schema as pve_schema

VERSIONS = ("8.4", "9.1")


SCHEMAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")


def schema_path(version: str) -> str:
    """The repository's copy of the PVE API schema of one release (see schemas/README.md)."""
    return os.path.join(SCHEMAS, "pve-api-schema-%s.json.xz" % version)


def document(version: str) -> dict[str, Any]:
    """The whole schema document of one release: {"meta": {...}, "paths": {...}}."""
    with lzma.open(schema_path(version), "rt", encoding="utf-8") as f:
        return json.load(f)


@functools.cache
def load(version: str) -> pve_schema.Schema:
    paths = document(version)["paths"]
    return pve_schema.Schema({template: spec.get("methods", {}) for template, spec in paths.items()})


def problems(entry: dict[str, Any]) -> list[str]:
    """What the 8.4 and 9.1 schemas say is wrong with one recorded request (empty: valid in both)."""
    out = []
    for version in VERSIONS:
        schema = load(version)
        match = schema.match(entry["path"])
        where = "PVE %s: %s %s" % (version, entry["method"], entry["path"])
        if match is None:
            out.append("%s: no such path" % where)
            continue
        info = match.methods.get(entry["method"])
        if info is None:
            out.append("%s: method not in the schema" % where)
            continue
        values = dict(entry["params"])
        values.pop("_dc", None)
        values.update(match.params)
        _values, errors = pve_schema.validate(info.get("parameters"), values)
        for field, reason in sorted((errors or {}).items()):
            out.append("%s: %s: %s" % (where, field, reason))
    return out


def check(entries: Iterable[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for entry in entries:
        found.extend(problems(entry))
    return sorted(set(found))


def read(path: str, start: int = 0) -> list[dict[str, Any]]:
    """The entries of a request log from byte offset start."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        f.seek(start)
        return [json.loads(line) for line in f if line.strip()]


if __name__ == "__main__":
    bad = check(read(sys.argv[1]))
    print("\n".join(bad) or "all requests valid in PVE %s" % " and ".join(VERSIONS))
    sys.exit(1 if bad else 0)
