"""LabPve: fakepve with what ironcloud.stack's features need and fakepve lacks.

Every extension of the fake lives here, in tests/lab, never in the modules. Each feature is a mixin
in its own file; LabPve lists them in front of FakePve, so each can call super() to reach fakepve.
"""

from __future__ import annotations

from typing import Any

from access import AccessMixin
from bulk import BulkMixin
from capacity import CapacityMixin
from compute import ComputeMixin
from control import ControlMixin
from fakepve import FakePve
from guests import GuestsMixin
from qemu_checks import QemuChecksMixin
from recorder import RecorderMixin


class LabPve(
    RecorderMixin,
    CapacityMixin,
    QemuChecksMixin,
    ComputeMixin,
    AccessMixin,
    ControlMixin,
    BulkMixin,
    GuestsMixin,
    FakePve,
):
    def __init__(self, config: dict[str, Any], password: str, host: str, port: int) -> None:
        super().__init__(user=config.get("user", "root@pam"), password=password, host=host, port=port)
        self.cluster_name = config.get("cluster_name", "ironlab")
        self.time_scale = float(config.get("time_scale", 0))
        self.node_capacity = {}
        self.nodes = {}
        for name, cap in sorted(config["nodes"].items()):
            self.set_capacity(name, cap["cores"], cap["memory_mb"])
        self.seed_compute()
