"""Address arithmetic (netaddr): parsing, carving, gateway, reserved addresses, next free address."""

from __future__ import annotations

import netaddr
import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import ipam
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import Conflict


@pytest.mark.parametrize(
    "value", ["10.0.0.0", "10.0.0.0/33", "300.1.1.0/24", "fe80::/64", "abc", "", None, 24, "10.0.0.1/24", "10.0.0.0/30"]
)
def test_parse_network_refuses_bad_cidrs_naming_the_option(value):
    with pytest.raises(ValidationError) as e:
        ipam.parse_network("cidr", value)
    assert str(e.value).startswith("cidr: ")


def test_parse_network_accepts_a_clean_cidr():
    assert str(ipam.parse_network("cidr", "10.1.2.0/24")) == "10.1.2.0/24"


def test_gateway_is_the_first_host():
    assert ipam.gateway_of("10.1.2.0/24") == "10.1.2.1"
    assert ipam.gateway_of("192.168.0.64/26") == "192.168.0.65"


def test_carve_takes_the_first_free_block_and_skips_taken_ones():
    assert ipam.carve("10.100.0.0/16", 24, []) == "10.100.0.0/24"
    assert ipam.carve("10.100.0.0/16", 24, ["10.100.0.0/24", "10.100.1.0/25"]) == "10.100.2.0/24"
    # a taken /23 skips two /24s; a hole smaller than the prefix is not used
    assert ipam.carve("10.100.0.0/16", 24, ["10.100.0.0/23"]) == "10.100.2.0/24"
    assert ipam.carve("10.100.0.0/16", 26, ["10.100.0.0/26"]) == "10.100.0.64/26"


def test_carve_of_a_full_supernet_is_a_conflict():
    with pytest.raises(Conflict, match="supernet: 10.0.0.0/24 has no free /25"):
        ipam.carve("10.0.0.0/24", 25, ["10.0.0.0/25", "10.0.0.128/25"])


def test_overlapping():
    assert ipam.overlapping("10.0.0.0/24", ["10.1.0.0/16", "10.0.0.128/25"]) == "10.0.0.128/25"
    assert ipam.overlapping("10.0.0.0/24", ["10.0.1.0/24"]) is None


@pytest.mark.parametrize(
    "address, rule",
    [
        ("10.0.0.0", "network address"),
        ("10.0.0.255", "broadcast"),
        ("10.0.0.1", "gateway"),
        ("10.0.1.5", "not in the network"),
        ("10.0.0.x", "not an IPv4 address"),
    ],
)
def test_network_gateway_and_broadcast_are_never_leased(address, rule):
    with pytest.raises(ValidationError, match=rule):
        ipam.check_address("address", "10.0.0.0/24", address)


def test_check_address_accepts_a_host_with_or_without_prefix():
    assert ipam.check_address("address", "10.0.0.0/24", "10.0.0.7") == int(netaddr.IPAddress("10.0.0.7"))
    assert ipam.check_address("address", "10.0.0.0/24", "10.0.0.7/24") == int(netaddr.IPAddress("10.0.0.7"))


def test_next_free_hands_out_in_order_then_reuses_holes_at_the_end():
    cidr = "10.0.0.0/29"  # .0 network, .1 gateway, .2-.6 hosts, .7 broadcast
    first, last = ipam.host_range(cidr)
    assert (ipam.to_str(first), ipam.to_str(last)) == ("10.0.0.2", "10.0.0.6")
    assert ipam.capacity(cidr) == 5
    assert ipam.next_free(cidr, None) == first
    assert ipam.next_free(cidr, first) == first + 1
    assert ipam.next_free(cidr, last) is None
    assert ipam.lowest_free(cidr, [first, first + 2, last]) == first + 1
    assert ipam.lowest_free(cidr, range(first, last + 1)) is None
