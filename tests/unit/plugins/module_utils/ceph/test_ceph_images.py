"""RBD image features and sizes, without Ceph."""

from __future__ import annotations

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._ceph import images
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError


def test_feature_bits_round_trip():
    bits = images.features_to_bits(["layering", "exclusive_lock", "Object-Map"])
    assert bits == 1 | 4 | 8
    assert images.bits_to_features(bits) == ["layering", "exclusive-lock", "object-map"]


def test_object_map_brings_fast_diff():
    assert images.check_features(["layering", "exclusive-lock", "object-map"]) == [
        "layering",
        "exclusive-lock",
        "object-map",
        "fast-diff",
    ]


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (["warp-drive"], "features: unknown feature 'warp-drive'"),
        (["data-pool"], "features: unknown feature 'data-pool'"),
        (["object-map"], "features: object-map needs exclusive-lock"),
        (["journaling"], "features: journaling needs exclusive-lock"),
    ],
)
def test_bad_features(features, message):
    with pytest.raises(ValidationError) as e:
        images.check_features(features)
    assert message in str(e.value)


def test_feature_changes():
    have = ["layering", "exclusive-lock"]
    want = images.check_features(["layering", "exclusive-lock", "object-map"])
    assert images.feature_changes(have, want) == {"enable": ["object-map", "fast-diff"], "disable": []}
    # The other way round: from the wanted set back to the smaller one.
    assert images.feature_changes(have=want, want=have) == {"enable": [], "disable": ["fast-diff", "object-map"]}
    assert images.feature_changes(have, have) == {"enable": [], "disable": []}


def test_fixed_features_refused():
    with pytest.raises(ValidationError, match="features: layering can only be chosen when the image is created"):
        images.feature_changes(["layering", "exclusive-lock"], ["exclusive-lock"])
    with pytest.raises(ValidationError, match="deep-flatten"):
        images.feature_changes(["layering"], ["layering", "deep-flatten"])
    assert images.feature_changes(["layering", "deep-flatten"], ["layering"]) == {
        "enable": [],
        "disable": ["deep-flatten"],
    }


def test_resize_plan():
    assert images.resize_plan(100, None, False, "p/i") is None
    assert images.resize_plan(100, 100, False, "p/i") is None
    assert images.resize_plan(100, 200, False, "p/i") == 200
    assert images.resize_plan(100, 50, True, "p/i") == 50
    with pytest.raises(ValidationError, match="size: image p/i is 100 bytes; shrinking it to 50"):
        images.resize_plan(100, 50, False, "p/i")
