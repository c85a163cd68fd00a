"""Sizes, counts and names shared by the Ceph modules."""

from __future__ import annotations

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.common import (
    ceph_argument_spec,
    check_pool_name,
    parse_count,
    parse_size,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (0, 0),
        ("0", 0),
        (1048576, 1048576),
        ("1048576", 1048576),
        ("10M", 10 * 1024**2),
        ("10MiB", 10 * 1024**2),
        ("10MB", 10 * 1000**2),
        ("1.5G", 1536 * 1024**2),
        ("2 TiB", 2 * 1024**4),
        ("512k", 512 * 1024),
        ("7B", 7),
    ],
)
def test_parse_size(value, expected):
    assert parse_size(value, "quota_max_bytes") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "quota_max_bytes: must not be negative"),
        (-5, "quota_max_bytes: must not be negative"),
        ("10 parsecs", "quota_max_bytes: unknown unit 'parsecs'"),
        ("ten", "quota_max_bytes: expected a size"),
        ("1.5B", "quota_max_bytes: '1.5B' is not a whole number of bytes"),
        (True, "quota_max_bytes: expected a size"),
    ],
)
def test_parse_size_refuses(value, message):
    with pytest.raises(ValidationError) as e:
        parse_size(value, "quota_max_bytes")
    assert message in str(e.value)


def test_parse_size_zero_refused_where_not_allowed():
    with pytest.raises(ValidationError, match="size: must be greater than 0"):
        parse_size("0", "size", allow_zero=False)


def test_parse_count():
    assert parse_count(None, "quota_max_objects") is None
    assert parse_count(0, "quota_max_objects") == 0
    with pytest.raises(ValidationError, match="quota_max_objects: must not be negative"):
        parse_count(-1, "quota_max_objects")


@pytest.mark.parametrize("name", ["ic-vms", "rbd", "tenant_acme.v2", "a"])
def test_pool_names(name):
    assert check_pool_name(name) == name


@pytest.mark.parametrize("name", ["", "bad name", "-x", ".mgr", "x/y", "a" * 129])
def test_bad_pool_names(name):
    with pytest.raises(ValidationError, match="name: .* is not a valid pool name"):
        check_pool_name(name)


def test_argument_spec_matches_the_doc_fragment():
    import yaml

    from ansible_collections.ironcloud.stack.plugins.doc_fragments.ceph import ModuleDocFragment

    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = ceph_argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
