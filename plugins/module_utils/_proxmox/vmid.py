# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Choosing a VMID that is free, under parallel creates.

PVE has no reservation call: GET /cluster/nextid only names the lowest id free at that moment, and 50
parallel creates all get the same answer. An id is taken when the create (or clone) writes its config,
so the create itself is the reservation: try an id, and when PVE answers "already exists" (synchronously
with 500 for a create or a clone; for a clone also as the task's exit status, "config file already exists",
because the clone worker writes the config) take another and try again.

The next try is not simply id+1: every loser of a race would then collide again on id+1. After the k-th
collision the next id is drawn at random from the next 2**k free ids (capped), which spreads the forks and
keeps the number of collisions per VM small. The number of tries is bounded (MAX_ATTEMPTS).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxError

MIN_VMID = 100
MAX_VMID = 999999999
MAX_ATTEMPTS = 64
SPREAD_CAP = 64
COLLISION_RE = re.compile(r"already exists")

T = TypeVar("T")


def is_collision(error: ProxmoxError) -> bool:
    """True when the create or clone failed because another guest holds the id."""
    return bool(COLLISION_RE.search(error.message)) and "Token" not in error.message


def parse_range(value: Sequence[int] | None) -> tuple[int, int] | None:
    """vmid_range [first, last] (both included), checked."""
    if not value:
        return None
    if len(value) != 2:
        raise ValidationError("vmid_range: give two ids, [first, last], got %r" % (value,))
    first, last = int(value[0]), int(value[1])
    if not MIN_VMID <= first <= last <= MAX_VMID:
        raise ValidationError(
            "vmid_range: %r is not a range of VMIDs within %d..%d with first <= last"
            % (list(value), MIN_VMID, MAX_VMID)
        )
    return first, last


class VmidAllocator:
    """Candidate ids for one create: the first from nextid (or the range), the next ones spread after a collision."""

    def __init__(
        self,
        taken: Iterable[int],
        first: int,
        id_range: tuple[int, int] | None = None,
        rng: random.Random | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.taken: set[int] = {int(v) for v in taken}
        self.range = id_range or (MIN_VMID, MAX_VMID)
        self.rng = rng or random.Random()
        self.max_attempts = max_attempts
        self.collisions = 0
        self.tried: list = []
        self.current = max(int(first), self.range[0])

    def _free_after(self, start: int, count: int) -> list[int]:
        out: list[int] = []
        vmid = start
        while len(out) < count and vmid <= self.range[1]:
            if vmid not in self.taken:
                out.append(vmid)
            vmid += 1
        return out

    def first(self) -> int:
        free = self._free_after(self.current, 1)
        if not free:
            raise ProxmoxError("vmid_range: no free VMID left in %d..%d" % self.range)
        self.current = free[0]
        return self.current

    def collided(self) -> int:
        """The id just tried is taken: the next candidate."""
        self.taken.add(self.current)
        self.tried.append(self.current)
        self.collisions += 1
        spread = min(SPREAD_CAP, 2**self.collisions)
        free = self._free_after(self.current + 1, spread)
        if not free:
            free = self._free_after(self.range[0], spread)
        if not free:
            raise ProxmoxError("vmid_range: no free VMID left in %d..%d" % self.range)
        self.current = self.rng.choice(free)
        return self.current


def with_free_vmid(attempt: Callable[[int], T], allocator: VmidAllocator) -> tuple[int, T]:
    """Call attempt(vmid) until it does not collide; (vmid, its result). Other errors pass through."""
    vmid = allocator.first()
    while True:
        try:
            return vmid, attempt(vmid)
        except ProxmoxError as e:
            if not is_collision(e):
                raise
            if allocator.collisions + 1 >= allocator.max_attempts:
                raise ProxmoxError(
                    "could not find a free VMID after %d tries (last: %s); other creates keep taking "
                    "them, retry or give vmid_range" % (allocator.max_attempts, e.message),
                    tried=allocator.tried + [vmid],
                ) from None
            vmid = allocator.collided()
