# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the lab's stand-in k3s (NOT K3s) for a given K3s version: a copy of k3s_standin.py with VERSION replaced.

    python3 tests/lab/k3s/build.py v1.32.1+k3s1 OUT/k3s

This is how the lab gets "a newer K3s" for upgrade tests: the binary differs (its checksum too), as a real one would.
The output starts with the interpreter line that makes it a program (`/usr/local/bin/k3s` in a guest); the source
has none, so it is never mistaken for a program of the repository.
"""

from __future__ import annotations

import os
import re
import sys

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


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: build.py VERSION OUTPUT")
    print(build(sys.argv[1], sys.argv[2]))
