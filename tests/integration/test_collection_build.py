"""The collection as users get it: `ansible-galaxy collection build`, install the tarball, ansible-doc renders."""

from __future__ import annotations

import glob
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, ".venv", "bin")


def run(argv, **kwargs):
    return subprocess.run(argv, cwd=ROOT, text=True, capture_output=True, check=True, **kwargs)


def test_build_install_and_doc(tmp_path):
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(tmp_path)])
    tarballs = glob.glob(str(tmp_path / "ironcloud-stack-*.tar.gz"))
    assert len(tarballs) == 1
    listing = run(["tar", "tzf", tarballs[0]]).stdout.split()
    assert "galaxy.yml" not in listing  # the build writes MANIFEST.json instead
    assert not [name for name in listing if name.startswith((".lab/", ".venv/", ".build/", ".ansible/"))]

    target = tmp_path / "collections"
    # Only the new directory: the checkout's own collection link must not count as installed.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(target), ANSIBLE_CONFIG=str(tmp_path / "none.cfg"))
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "-p", str(target), tarballs[0]], env=env)
    installed = target / "ansible_collections" / "ironcloud" / "stack"
    assert (installed / "plugins" / "modules" / "proxmox_node_info.py").exists()

    doc = subprocess.run(
        [os.path.join(BIN, "ansible-doc"), "ironcloud.stack.proxmox_node_info"],
        cwd=str(tmp_path),
        env=env,
        text=True,
        capture_output=True,
        check=False,
    )
    assert doc.returncode == 0, doc.stderr
    assert "api_token_secret" in doc.stdout
    assert str(installed) in doc.stdout  # rendered from the installed copy, not the checkout
