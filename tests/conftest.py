"""Shared by the unit and integration tests: import the collection from this checkout."""

from __future__ import annotations

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")


def install_collection_loader() -> None:
    """Make `ansible_collections.ironcloud.stack` importable as Ansible itself resolves it."""
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    _AnsibleCollectionFinder(paths=[COLLECTIONS], scan_sys_paths=True)._install()


install_collection_loader()
