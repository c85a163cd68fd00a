"""The lab's layers, in the order `up` runs them (`down` runs them in reverse)."""

from .hosts import Hosts
from .pki import Pki
from .pve import Pve

LAYERS = [Pki(), Pve()]
LAYERS.append(Hosts())
