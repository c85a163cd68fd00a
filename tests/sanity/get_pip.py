"""Stand-in for pip's get-pip.py, which ansible-test downloads from a host this machine cannot reach.

ansible-test runs it inside each empty sanity virtualenv with the pip packages it wants
(`pip==24.2 ... --no-setuptools --no-wheel`). It bootstraps pip from Python's own ensurepip, then
installs what was asked for from the configured package index. tests/sanity/run.sh installs it as
~/.ansible/test/cache/get_pip_<version>.py.
"""

import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap()
# ensurepip leaves these in os.environ; with them pip would ignore the machine's pip configuration.
for leftover in ("PIP_CONFIG_FILE", "ENSUREPIP_OPTIONS"):
    os.environ.pop(leftover, None)
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--upgrade", *args]))
