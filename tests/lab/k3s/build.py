# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the lab's stand-in k3s (NOT K3s) for a given K3s version: a copy of k3s_standin.py with VERSION replaced.

    python3 tests/lab/k3s/build.py v1.32.1+k3s1 OUT/k3s
    python3 tests/lab/k3s/build.py --artifacts v1.32.1+k3s1 DIR

This is how the lab gets "a newer K3s" for upgrade tests: the binary differs (its checksum too), as a real one would.
The output starts with the interpreter line that makes it a program (`/usr/local/bin/k3s` in a guest); the source
has none, so it is never mistaken for a program of the repository.
`--artifacts` writes what the role `k3s` takes from the controller (`k3s_artifacts_dir`), in the layout of a K3s
release: `k3s`, `k3s-airgap-images-<arch>.tar.gz` (here a tarball holding only a README: the stand-in runs no
images) and `sha256sum-<arch>.txt` with both checksums.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION_RE = re.compile(r"^v\d+\.\d+\.\d+\+k3s\d+$")


def build(version: str, out: str) -> str:
    if not VERSION_RE.match(version):
        raise SystemExit("version %r: expected vMAJOR.MINOR.PATCH+k3sN, such as v1.31.5+k3s1" % version)
    with open(os.path.join(HERE, "k3s_standin.py"), encoding="utf-8") as f:
        source = f.read()
    new, count = re.subn(r'^VERSION = "[^"]*"$', 'VERSION = "%s"' % version, source, flags=re.M)
    if count != 1:
        raise SystemExit("k3s_standin.py: expected one VERSION line")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        f.write("#!/usr/bin/python3\n" + new)
    os.chmod(out, 0o755)
    return out


def build_artifacts(version: str, out_dir: str, arch: str = "amd64") -> str:
    """A K3s-release-shaped artifacts directory for version (stand-in binary, images tarball, checksums)."""
    os.makedirs(out_dir, exist_ok=True)
    binary = build(version, os.path.join(out_dir, "k3s"))
    images = os.path.join(out_dir, "k3s-airgap-images-%s.tar.gz" % arch)
    note = ("k3s stand-in %s: no container images (the stand-in runs no containers)\n" % version).encode()
    info = tarfile.TarInfo("README.standin")
    info.size, info.mtime = len(note), 0
    with tarfile.open(images, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(note))
    lines = []
    for path in (binary, images):
        with open(path, "rb") as f:
            lines.append("%s  %s\n" % (hashlib.sha256(f.read()).hexdigest(), os.path.basename(path)))
    with open(os.path.join(out_dir, "sha256sum-%s.txt" % arch), "w", encoding="utf-8") as f:
        f.writelines(lines)
    return out_dir


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--artifacts":
        print(build_artifacts(sys.argv[2], sys.argv[3]))
    elif len(sys.argv) == 3:
        print(build(sys.argv[1], sys.argv[2]))
    else:
        raise SystemExit("usage: build.py VERSION OUTPUT | build.py --artifacts VERSION DIR")
