"""Shipped playbooks and roles hold no lab code: the lab's ping matrix (network namespaces) is in tests/lab."""

from __future__ import annotations

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# What only the lab has: its stand-in guests are network namespaces of the hypervisors, its hosts a group of its own.
LAB_ONLY = re.compile(r"netns|lab_hypervisors|ovslab-|\bvm<vmid>|tests/lab")


def shipped_files():
    for top in ("playbooks", "roles"):
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                yield os.path.join(dirpath, name)


def test_shipped_playbooks_and_roles_have_no_lab_code():
    found = []
    for path in shipped_files():
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if LAB_ONLY.search(line):
                    found.append("%s:%d: %s" % (os.path.relpath(path, ROOT), number, line.strip()))
    assert found == [], "lab code in shipped files:\n" + "\n".join(found)
