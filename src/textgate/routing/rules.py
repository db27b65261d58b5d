"""What a route matches: destination prefixes and countries, senders, accounts and message types.

Every rule kind given must match (AND); within one kind any listed value may match (OR); a route without
rules matches every message. Routes are tried in the order configured and the first match wins, the way
a firewall or an SMSC's routing table reads - so put narrow routes first and a catch-all last.

Countries are ISO 3166 codes of the destination number's region as libphonenumber reads it
(:func:`textgate.domain.phone.region_of`): ``+44 7911 123456`` is ``GB``, ``+1 416 …`` is ``CA``. A sender
rule is an exact sender, or a prefix when it ends in ``*`` (``"+1555*"``, ``"ACME*"``); alphanumeric
senders compare without regard to case, as networks treat them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from textgate.domain.phone import region_of
from textgate.providers.base import OutboundMessage

_PREFIX = re.compile(r"^\+?[0-9]{1,15}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
MESSAGE_TYPES = ("sms", "mms")


@functools.lru_cache(maxsize=65536)
def _region(number: str) -> str | None:
    return region_of(number)


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{key} must be a non-empty list of strings")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class RouteRules:
    prefixes: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    senders: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    message_types: tuple[str, ...] = ()

    KEYS: ClassVar[frozenset[str]] = frozenset(
        {"prefixes", "countries", "senders", "accounts", "message_types"}
    )

    @classmethod
    def parse(cls, table: Mapping[str, Any]) -> RouteRules:
        """The rule keys of a ``[[routes]]`` table; ValueError naming the key."""
        prefixes: tuple[str, ...] = ()
        if "prefixes" in table:
            raw = _strings("prefixes", table["prefixes"])
            bad = [p for p in raw if not _PREFIX.match(p)]
            if bad:
                raise ValueError(f"prefixes must be digits with an optional leading '+', not {bad[0]!r}")
            prefixes = tuple(p if p.startswith("+") else "+" + p for p in raw)
        countries: tuple[str, ...] = ()
        if "countries" in table:
            countries = tuple(c.upper() for c in _strings("countries", table["countries"]))
            bad = [c for c in countries if not _COUNTRY.match(c)]
            if bad:
                raise ValueError(f'countries must be ISO 3166 alpha-2 codes such as "GB", not {bad[0]!r}')
        senders = _strings("senders", table["senders"]) if "senders" in table else ()
        accounts = _strings("accounts", table["accounts"]) if "accounts" in table else ()
        types: tuple[str, ...] = ()
        if "message_types" in table:
            types = tuple(t.lower() for t in _strings("message_types", table["message_types"]))
            bad = [t for t in types if t not in MESSAGE_TYPES]
            if bad:
                raise ValueError(f"message_types must list {' or '.join(MESSAGE_TYPES)}, not {bad[0]!r}")
        return cls(prefixes, countries, senders, accounts, types)

    def __bool__(self) -> bool:
        return bool(self.prefixes or self.countries or self.senders or self.accounts or self.message_types)

    def matches(self, message: OutboundMessage) -> bool:
        if self.message_types and message.type.lower() not in self.message_types:
            return False
        if self.accounts and message.account_id not in self.accounts:
            return False
        if self.prefixes and not message.to_addr.startswith(self.prefixes):
            return False
        if self.senders and not any(_sender_matches(rule, message.from_addr) for rule in self.senders):
            return False
        return not self.countries or _region(message.to_addr) in self.countries

    def view(self) -> dict[str, list[str]]:
        """The rules given, for ``textgate routes list`` (an empty dict: matches everything)."""
        return {key: list(getattr(self, key)) for key in sorted(self.KEYS) if getattr(self, key)}


def _sender_matches(rule: str, sender: str) -> bool:
    if rule.endswith("*"):
        return sender.casefold().startswith(rule[:-1].casefold())
    return sender.casefold() == rule.casefold()
