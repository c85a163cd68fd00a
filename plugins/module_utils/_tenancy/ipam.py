# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address arithmetic of project networks, all of it with netaddr (pure: no store, no I/O).

A project network is an IPv4 subnet of at most /29. Its first host is the gateway, reserved; the network
and broadcast addresses are never leased. Addresses are handed out in order after the highest one in use,
and released addresses are reused once the end of the subnet is reached (so an address just released is
not given to the next VM at once, as DHCP servers do).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._module import Requirement
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import Conflict

try:
    import netaddr

    HAS_NETADDR = True
    NETADDR_IMPORT_ERROR: Exception | None = None
except ImportError as e:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_NETADDR = False
    NETADDR_IMPORT_ERROR = e

NETADDR = Requirement("netaddr", HAS_NETADDR, NETADDR_IMPORT_ERROR)

# The smallest subnet a project network may have: network, gateway, at least 5 hosts, broadcast.
MAX_PREFIX = 29


def parse_network(option: str, value: object, max_prefix: int = MAX_PREFIX) -> netaddr.IPNetwork:
    """An IPv4 network in CIDR notation whose host bits are zero, or ValidationError naming the option."""
    if not isinstance(value, str) or "/" not in value:
        raise ValidationError("%s: %r is not a CIDR (for example 10.10.0.0/24)" % (option, value), option=option)
    try:
        net = netaddr.IPNetwork(value.strip())
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError("%s: %r is not a valid CIDR" % (option, value), option=option) from None
    if net.version != 4:
        raise ValidationError("%s: %s is not IPv4 (project networks are IPv4)" % (option, value), option=option)
    if net.network != net.ip:
        raise ValidationError("%s: %s has host bits set; the network is %s" % (option, value, net.cidr), option=option)
    if net.prefixlen > max_prefix:
        raise ValidationError(
            "%s: %s is too small: the prefix length must be at most /%d" % (option, value, max_prefix), option=option
        )
    return net


def check_prefix_length(option: str, value: int, supernet: netaddr.IPNetwork) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not supernet.prefixlen <= value <= MAX_PREFIX:
        raise ValidationError(
            "%s: %r must be an integer from %d (the supernet's) to %d"
            % (option, value, supernet.prefixlen, MAX_PREFIX),
            option=option,
        )
    return value


def gateway_of(cidr: str) -> str:
    """The first host of the subnet."""
    net = netaddr.IPNetwork(cidr)
    return str(netaddr.IPAddress(net.first + 1))


def overlapping(cidr: str, others: Iterable[str]) -> str | None:
    """The first of others that overlaps cidr, or None."""
    mine = netaddr.IPSet([cidr])
    for other in others:
        if mine & netaddr.IPSet([other]):
            return other
    return None


def carve(supernet: str, prefix_length: int, taken: Sequence[str]) -> str:
    """The first /prefix_length subnet of supernet that overlaps none of taken, or Conflict when it is full."""
    free = netaddr.IPSet([supernet]) - netaddr.IPSet(list(taken))
    for block in free.iter_cidrs():
        if block.prefixlen <= prefix_length:
            return str(netaddr.IPNetwork("%s/%d" % (block.network, prefix_length)).cidr)
    raise Conflict(
        "supernet: %s has no free /%d left for this tenant (%d networks in it)" % (supernet, prefix_length, len(taken)),
        option="supernet",
    )


def host_range(cidr: str) -> tuple[int, int]:
    """The first and last leasable address of the subnet as integers (after the gateway, before broadcast)."""
    net = netaddr.IPNetwork(cidr)
    return net.first + 2, net.last - 1


def to_str(value: int) -> str:
    return str(netaddr.IPAddress(value, 4))


def check_address(option: str, cidr: str, address: object) -> int:
    """A requested address as an integer: it must be in the subnet and not its network, gateway or broadcast."""
    if not isinstance(address, str):
        raise ValidationError("%s: %r is not an IPv4 address" % (option, address), option=option)
    text = address.split("/", 1)[0].strip()
    try:
        ip = netaddr.IPAddress(text, 4)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError("%s: %r is not an IPv4 address" % (option, address), option=option) from None
    net = netaddr.IPNetwork(cidr)
    if ip not in net:
        raise ValidationError("%s: %s is not in the network %s" % (option, ip, net), option=option)
    value = int(ip)
    if value == net.first:
        raise ValidationError("%s: %s is the network address of %s" % (option, ip, net), option=option)
    if value == net.last:
        raise ValidationError("%s: %s is the broadcast address of %s" % (option, ip, net), option=option)
    if value == net.first + 1:
        raise ValidationError("%s: %s is the gateway of %s (reserved)" % (option, ip, net), option=option)
    return value


def next_free(cidr: str, highest: int | None, used: Iterable[int] | None = None) -> int | None:
    """The address to lease next: after the highest in use; else the lowest free one (used given); else None.

    used is only needed (and only read) when the end of the subnet is reached: the caller passes a callable's
    result lazily by calling again with used.
    """
    first, last = host_range(cidr)
    if highest is None or highest < first:
        return first if first <= last else None
    if highest < last:
        return highest + 1
    if used is None:
        return None
    taken = set(used)
    for value in range(first, last + 1):
        if value not in taken:
            return value
    return None


def lowest_free(cidr: str, used: Iterable[int]) -> int | None:
    """The lowest leasable address not in used, or None when the subnet is full."""
    first, last = host_range(cidr)
    taken = set(used)
    for value in range(first, last + 1):
        if value not in taken:
            return value
    return None


def capacity(cidr: str) -> int:
    """How many addresses of the subnet can be leased."""
    first, last = host_range(cidr)
    return max(0, last - first + 1)
