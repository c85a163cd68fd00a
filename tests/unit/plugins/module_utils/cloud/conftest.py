"""Make the Proxmox stub (../proxmox/pve_stub.py) and this directory's fake importable by the tests here."""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "proxmox"))
