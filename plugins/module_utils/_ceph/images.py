# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ceph_rbd_image: an RBD image created, grown (shrunk only when allowed), its features converged, or removed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.client import librbd
from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.common import CephError, parse_size
from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff, whole
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError

# librbd's feature bits (include/rbd/features.h), so this module needs rbd only to talk to Ceph.
FEATURES = {
    "layering": 1,
    "striping": 2,
    "exclusive-lock": 4,
    "object-map": 8,
    "fast-diff": 16,
    "deep-flatten": 32,
    "journaling": 64,
    "data-pool": 128,
    "operations": 256,
    "migrating": 512,
    "non-primary": 1024,
}
# What `rbd feature enable/disable` can change on an existing image; the rest is fixed at creation.
MUTABLE = ("exclusive-lock", "object-map", "fast-diff", "journaling")
DISABLE_ONLY = ("deep-flatten",)
# Set by Ceph itself, never asked for.
INTERNAL = ("data-pool", "operations", "migrating", "non-primary", "striping")
DEFAULT_FEATURES = ("layering", "exclusive-lock", "object-map", "fast-diff", "deep-flatten")


def features_to_bits(features: list[str]) -> int:
    bits = 0
    for name in features:
        key = name.strip().lower().replace("_", "-")
        if key not in FEATURES or key in INTERNAL:
            raise ValidationError(
                "features: unknown feature {!r} (use {})".format(
                    name, ", ".join(f for f in FEATURES if f not in INTERNAL)
                )
            )
        bits |= FEATURES[key]
    return bits


def bits_to_features(bits: int) -> list[str]:
    return [name for name, bit in FEATURES.items() if bits & bit]


def check_features(features: list[str]) -> list[str]:
    """Normalised, validated feature names (object-map needs exclusive-lock; fast-diff needs object-map)."""
    names = bits_to_features(features_to_bits(features))
    if "object-map" in names and "fast-diff" not in names:
        # librbd enables fast-diff together with object-map, so asking for one means both.
        names = bits_to_features(features_to_bits(names + ["fast-diff"]))
    if "object-map" in names and "exclusive-lock" not in names:
        raise ValidationError("features: object-map needs exclusive-lock")
    if "fast-diff" in names and "object-map" not in names:
        raise ValidationError("features: fast-diff needs object-map")
    if "journaling" in names and "exclusive-lock" not in names:
        raise ValidationError("features: journaling needs exclusive-lock")
    return names


def feature_changes(have: list[str], want: list[str]) -> dict[str, list[str]]:
    """{"enable": [...], "disable": [...]} in the order librbd accepts; raises for fixed features."""
    have_set = {f for f in have if f not in INTERNAL}
    want_set = set(want)
    enable = [f for f in MUTABLE if f in want_set - have_set]
    disable = [f for f in reversed(MUTABLE) if f in have_set - want_set]
    disable += [f for f in DISABLE_ONLY if f in have_set - want_set]
    fixed = sorted((want_set ^ have_set) - set(MUTABLE) - set(DISABLE_ONLY))
    fixed += [f for f in DISABLE_ONLY if f in want_set - have_set]
    if fixed:
        raise ValidationError(
            "features: {} can only be chosen when the image is created (image has: {})".format(
                ", ".join(sorted(set(fixed))), ", ".join(sorted(have_set)) or "none"
            )
        )
    return {"enable": enable, "disable": disable}


def resize_plan(have: int, want: int | None, allow_shrink: bool, name: str) -> int | None:
    """The new size, or None when the size stays; shrinking needs allow_shrink."""
    if want is None or want == have:
        return None
    if want < have and not allow_shrink:
        raise ValidationError(
            f"size: image {name} is {have} bytes; shrinking it to {want} destroys data beyond the new end, "
            "set allow_shrink=true to do it"
        )
    return want


class RbdImages:
    def __init__(self, client: Any) -> None:
        self.client = client

    def _describe(self, image: Any, pool: str, namespace: str | None, name: str) -> dict[str, Any]:
        return {
            "pool": pool,
            "namespace": namespace or "",
            "name": name,
            "size": image.size(),
            "features": [f for f in bits_to_features(image.features()) if f not in INTERNAL],
            "id": image.id(),
            "block_name_prefix": image.block_name_prefix(),
        }

    def ensure(self, params: Mapping[str, Any], check_mode: bool) -> dict[str, Any]:
        rbd = librbd()

        pool, name, namespace = params["pool"], params["name"], params.get("namespace") or None
        state = params.get("state") or "present"
        size = parse_size(params.get("size"), "size", allow_zero=False)
        features = check_features(params["features"]) if params.get("features") is not None else None
        ioctx = self.client.open_ioctx(pool, namespace)
        try:
            try:
                image = rbd.Image(ioctx, name)
            except rbd.ImageNotFound:
                image = None
            have = None
            if image is not None:
                try:
                    have = self._describe(image, pool, namespace, name)
                finally:
                    image.close()
            if state == "absent":
                return self._absent(ioctx, have, pool, name, check_mode)
            if have is None:
                if size is None:
                    raise ValidationError(f"size: required to create image {pool}/{name}")
                return self._create(ioctx, pool, namespace, name, size, features, check_mode)
            return self._update(ioctx, have, size, features, bool(params.get("allow_shrink")), check_mode)
        finally:
            ioctx.close()

    def _create(
        self,
        ioctx: Any,
        pool: str,
        namespace: str | None,
        name: str,
        size: int,
        features: list[str] | None,
        check_mode: bool,
    ) -> dict[str, Any]:
        rbd = librbd()

        after = {
            "pool": pool,
            "namespace": namespace or "",
            "name": name,
            "size": size,
            "features": features if features is not None else list(DEFAULT_FEATURES),
        }
        result: dict[str, Any] = {"changed": True, "image": after}
        result["diff"] = whole(None, dict(after))
        if check_mode:
            result["msg"] = f"image {pool}/{name} would be created"
            return result
        kwargs: dict[str, Any] = {"old_format": False}
        if features is not None:
            kwargs["features"] = features_to_bits(features)
        try:
            rbd.RBD().create(ioctx, name, size, **kwargs)
        except rbd.Error as e:
            raise CephError(f"creating image {pool}/{name} failed: {e}", pool=pool, image=name) from e
        with rbd.Image(ioctx, name) as image:
            result["image"] = self._describe(image, pool, namespace, name)
        result["diff"]["after"] = {k: result["image"][k] for k in after}
        result["msg"] = f"image {pool}/{name} created"
        return result

    def _update(
        self,
        ioctx: Any,
        have: dict[str, Any],
        size: int | None,
        features: list[str] | None,
        allow_shrink: bool,
        check_mode: bool,
    ) -> dict[str, Any]:
        rbd = librbd()

        label = "{}/{}".format(have["pool"], have["name"])
        new_size = resize_plan(have["size"], size, allow_shrink, label)
        changes = feature_changes(have["features"], features) if features is not None else {"enable": [], "disable": []}
        diff = Diff()
        if new_size is not None:
            diff.compare("size", have["size"], new_size)
        if changes["enable"] or changes["disable"]:
            diff.compare("features", have["features"], sorted(features or [], key=list(FEATURES).index))
        result: dict[str, Any] = {"changed": diff.changed, "image": dict(have)}
        result["diff"] = diff.as_dict()
        if not diff.changed:
            result["msg"] = f"image {label} is up to date"
            return result
        if check_mode:
            result["image"].update(diff.after)
            result["msg"] = "image {} would be updated: {}".format(label, ", ".join(diff.after))
            return result
        with rbd.Image(ioctx, have["name"]) as image:
            try:
                if new_size is not None:
                    image.resize(new_size, allow_shrink=allow_shrink)
                # One call each way: librbd enables (and disables) dependent features such as fast-diff together.
                if changes["disable"]:
                    image.update_features(features_to_bits(changes["disable"]), False)
                if changes["enable"]:
                    image.update_features(features_to_bits(changes["enable"]), True)
            except rbd.Error as e:
                raise CephError(f"updating image {label} failed: {e}", pool=have["pool"], image=have["name"]) from e
            result["image"] = self._describe(image, have["pool"], have["namespace"] or None, have["name"])
        result["msg"] = "image {} updated: {}".format(label, ", ".join(diff.after))
        return result

    def _absent(
        self, ioctx: Any, have: dict[str, Any] | None, pool: str, name: str, check_mode: bool
    ) -> dict[str, Any]:
        rbd = librbd()

        result: dict[str, Any] = {"changed": have is not None, "image": {}}
        result["diff"] = {
            "before": {k: have[k] for k in ("pool", "namespace", "name", "size", "features")} if have else {},
            "after": {},
        }
        if have is None:
            result["msg"] = f"image {pool}/{name} is absent"
        elif check_mode:
            result["msg"] = f"image {pool}/{name} would be removed"
        else:
            try:
                rbd.RBD().remove(ioctx, name)
            except rbd.Error as e:
                raise CephError(f"removing image {pool}/{name} failed: {e}", pool=pool, image=name) from e
            result["msg"] = f"image {pool}/{name} removed"
        return result
