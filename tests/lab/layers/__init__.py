"""The lab's layers, in the order `up` runs them (`down` runs them in reverse)."""

from .ceph import Ceph
from .hosts import Hosts
from .pki import Pki
from .postgres import Postgres
from .provider import Provider
from .pve import Pve

LAYERS = [Pki(), Pve(), Postgres(), Ceph(), Hosts(), Provider()]
