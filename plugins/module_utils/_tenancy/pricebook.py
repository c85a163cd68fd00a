# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The price book: one currency and effective-dated versions of the prices, validated before anything is billed.

    currency: EUR
    minor_unit: 2                          # optional: decimals of an amount (default 2; JPY would be 0)
    versions:
      - valid_from: "2026-01-01T00:00:00Z" # a UTC time; each version holds until the next one's valid_from
        vcpu_hour: "0.0100"                # per vCPU and hour, in charged_states
        ram_gib_hour: "0.0050"             # per GiB of RAM and hour, in charged_states
        disk_gib_month: "0.0400"           # per GiB of VM disk and month, while the VM exists
        floating_ip_hour: "0.0050"         # per floating IP and hour, while allocated
        tenant_fee_month: "10.00"          # per tenant and month, while it exists
        storage_gib_month: "0.0200"        # optional: per GiB of storage quota and month
        charged_states: [running, paused]  # the VM states that pay for vCPU and RAM

Prices are decimal strings (or integers): a YAML float such as 0.1 is refused, since its value is not the
decimal written. Other keys may be added to a version; the ones above keep their meaning.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError

PRICE_KEYS = ("vcpu_hour", "ram_gib_hour", "disk_gib_month", "floating_ip_hour", "tenant_fee_month")
OPTIONAL_PRICE_KEYS = ("storage_gib_month",)
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


class PriceBookError(ValidationError):
    """The price book is not valid: the message names the key (versions[i].key) and the rule."""


@dataclass(frozen=True)
class Version:
    valid_from: float
    prices: dict[str, Decimal]
    charged_states: frozenset[str]
    extra: dict[str, Any] = field(default_factory=dict)
    index: int = 0

    def label(self) -> str:
        return datetime.datetime.fromtimestamp(self.valid_from, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class PriceBook:
    currency: str
    minor_unit: int
    versions: tuple[Version, ...]

    def at(self, moment: float) -> Version:
        """The version in effect at moment (the last whose valid_from is not after it)."""
        found = None
        for version in self.versions:
            if version.valid_from <= moment:
                found = version
        if found is None:
            raise PriceBookError(
                "price_book: versions[0].valid_from: no price is valid at %s (the first version is valid from %s); "
                "add a version valid from then"
                % (
                    datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    self.versions[0].label(),
                ),
                option="price_book",
            )
        return found

    def changes(self, start: float, end: float) -> list[float]:
        """The valid_from times strictly inside (start, end)."""
        return [v.valid_from for v in self.versions if start < v.valid_from < end]


def _fail(key: str, rule: str) -> PriceBookError:
    return PriceBookError("price_book: %s: %s" % (key, rule), option="price_book", key=key)


def _time(key: str, value: Any) -> float:
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        moment = datetime.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise _fail(key, "%r is not an ISO 8601 UTC time (for example 2026-11-01T00:00:00Z)" % value) from None
    else:
        raise _fail(key, "%r is not an ISO 8601 UTC time (for example 2026-11-01T00:00:00Z)" % (value,))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    elif moment.utcoffset() != datetime.timedelta(0):
        raise _fail(key, "%r is not in UTC: write it with Z (or +00:00)" % (value,))
    return moment.timestamp()


def _price(key: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        hint = " (quote it: '%s')" % value if isinstance(value, float) else ""
        raise _fail(key, "must be a decimal string such as '0.0100', got %r%s" % (value, hint))
    text = str(value).strip()
    if not re.match(r"^\d+(\.\d+)?$", text):
        raise _fail(key, "%r is not a non-negative decimal such as '0.0100'" % value)
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern above only lets decimals through
        raise _fail(key, "%r is not a decimal" % value) from None


def load(data: Any) -> PriceBook:
    """The price book from its parsed YAML, or PriceBookError naming the first bad key."""
    if not isinstance(data, Mapping):
        raise _fail("(top)", "must be a mapping with currency and versions")
    currency = data.get("currency")
    if not isinstance(currency, str) or not CURRENCY_RE.match(currency):
        raise _fail("currency", "must be an ISO 4217 code of three capital letters such as EUR, got %r" % (currency,))
    minor = data.get("minor_unit", 2)
    if isinstance(minor, bool) or not isinstance(minor, int) or not 0 <= minor <= 6:
        raise _fail("minor_unit", "must be an integer from 0 to 6 (the decimals of an amount), got %r" % (minor,))
    versions = data.get("versions")
    if not isinstance(versions, list) or not versions:
        raise _fail("versions", "must be a non-empty list of price versions")
    out: list[Version] = []
    for i, raw in enumerate(versions):
        where = "versions[%d]" % i
        if not isinstance(raw, Mapping):
            raise _fail(where, "must be a mapping")
        if "valid_from" not in raw:
            raise _fail(where + ".valid_from", "is required")
        valid_from = _time(where + ".valid_from", raw["valid_from"])
        if out and valid_from <= out[-1].valid_from:
            raise _fail(
                where + ".valid_from",
                "must be after versions[%d].valid_from (%s): list the versions oldest first" % (i - 1, out[-1].label()),
            )
        prices = {}
        for key in PRICE_KEYS:
            if key not in raw:
                raise _fail("%s.%s" % (where, key), "is required (a decimal string)")
            prices[key] = _price("%s.%s" % (where, key), raw[key])
        for key in OPTIONAL_PRICE_KEYS:
            if raw.get(key) is not None:
                prices[key] = _price("%s.%s" % (where, key), raw[key])
        states = raw.get("charged_states")
        if not isinstance(states, list) or not all(isinstance(s, str) and s for s in states):
            raise _fail(
                where + ".charged_states",
                "must be a list of VM states (running, stopped, paused, ...) that pay for vCPU and RAM, got %r"
                % (states,),
            )
        extra = {
            k: v for k, v in raw.items() if k not in PRICE_KEYS + OPTIONAL_PRICE_KEYS + ("valid_from", "charged_states")
        }
        out.append(Version(valid_from, prices, frozenset(states), extra, i))
    return PriceBook(currency, minor, tuple(out))


def read(path: str) -> PriceBook:
    """The price book of a YAML file."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise PriceBookError("price_book: cannot read %s: %s" % (path, e.strerror), option="price_book") from None
    except yaml.YAMLError as e:
        raise PriceBookError(
            "price_book: %s is not YAML: %s" % (path, str(e).splitlines()[0]), option="price_book"
        ) from None
    return load(data)
