"""Make the helpers of this directory (pve_stub, gen_qemu_schema) importable by the tests here."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
