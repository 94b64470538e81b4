"""Where the called party may be: the candidate time zones of a number and a lead.

The engine never guesses a single zone. It collects every zone the called party could be in
(the number's zones, the lead's own zone, the zones of the lead's address state) and the hours
rules must pass in all of them (reference Z-01).

Phone zones come from phonenumbers' prefix data (`phonenumbers.tzdata.TIMEZONE_DATA`, keyed by
E.164 digits: `'1219'` is the default of area code 219, `'1219980'` one exchange, `'185043'` the
exchanges 430-439 of area code 850). For an exchange no entry covers, phonenumbers answers with
the area code's default zone, which is wrong for the part of a split area code that lies in
another zone (most of 219 is Central, its default is Eastern). So a number of a multi-zone area
code that only the area-code default covers gets every zone of the area code (reference Z-03).
An entry for a block of exchanges (5 or 6 digits) counts as explicit, like a single exchange:
the data names those exchanges' zone (+1 850 432 is Pensacola, Central). Where the data is
known to be wrong, config/zone_additions.toml adds the right zone (+1 907 581, Unalaska, is
on Alaska time, not Honolulu's): a zone is only ever added, which can only narrow the window.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType
from phonenumbers.timezone import UNKNOWN_TIMEZONE, time_zones_for_number
from phonenumbers.tzdata import TIMEZONE_DATA

T = TypeVar("T")

__all__ = [
    "area_code_state",
    "candidate_zones",
    "is_zone",
    "known_state",
    "known_zone",
    "load_state_zones",
    "load_zone_additions",
    "phone_zones",
    "state_zones",
]

CONFIG = Path(__file__).resolve().parent.parent / "config"
STATE_ZONES_PATH = CONFIG / "state_zones.toml"
AREA_CODES_PATH = CONFIG / "area_codes.toml"
ZONE_ADDITIONS_PATH = CONFIG / "zone_additions.toml"

# More zones than this for one number means a non-geographic number (toll-free +1 800 and
# +1 500 get all 42 NANP zones): no location at all.
MAX_PHONE_ZONES = 4
# Keys of the prefix data below a NANP area code ('1' + area code = 4 digits): a block of
# exchanges (5, 6 digits) or one exchange (7).
EXCHANGE_KEY_LENGTHS = (7, 6, 5)
# Fixed-line and mobile numbers have a place; toll-free, premium, personal numbers do not.
GEOGRAPHIC_TYPES = frozenset(
    {PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)

US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH",
    "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN",
    "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY", "District of Columbia": "DC",
    # Spellings of the geocoder data.
    "Washington State": "WA", "Washington D.C.": "DC",
}  # fmt: skip
US_CODES = frozenset(US_STATES.values())
TERRITORIES = {
    "American Samoa": "AS", "Guam": "GU", "Northern Mariana Islands": "MP",
    "Puerto Rico": "PR", "U.S. Virgin Islands": "VI", "Virgin Islands": "VI",
}  # fmt: skip
# Geocoder entries below the area code read "Gary, IN": the state is the suffix.
_CITY_STATE = re.compile(r", ([A-Z]{2})$")


def _cache_key(e164: str) -> str:
    """What the zone and state of a number depend on.

    For a 10-digit NANP number that is its first 7 digits (1 + area code + exchange):
    phonenumbers' NANP metadata decides the number type, the region and the time zone
    prefix by area code and exchange only (tests/test_zones.py checks samples). Caching on
    it turns a million distinct numbers into a few thousand lookups.
    """
    if len(e164) == 12 and e164.startswith("+1"):
        return e164[:8] + "*"  # the star keeps it apart from a short number such as +1305555
    return e164


def phone_zones(e164: str) -> tuple[str, ...]:
    """The zones the number may ring in, sorted; () when the data gives no location.

    '+12195550100' -> ('America/Chicago', 'America/New_York') (219 is split and exchange 555 is
    not listed); '+12199800100' -> ('America/Chicago',) (exchange 980 is listed);
    '+18005550100' (toll-free) -> ().
    """
    return _memo(_ZONES, _cache_key(e164), _zones_of_number, e164)


def area_code_state(e164: str) -> str | None:
    """The US state (postal code) of the number's area code: '+13055550100' -> 'FL'.

    None for non-US NANP numbers (Canada, Puerto Rico, the Caribbean), non-geographic numbers
    (toll-free) and numbers outside +1.
    """
    return _memo(_STATES, _cache_key(e164), _state_of_number, e164)


# Every NANP exchange fits (800 area codes x 800 exchanges is the worst case).
_MEMO_LIMIT = 1_000_000
_ZONES: dict[str, tuple[str, ...]] = {}
_STATES: dict[str, str | None] = {}


def _memo(table: dict[str, T], key: str, compute: Callable[[str], T], e164: str) -> T:
    try:
        return table[key]
    except KeyError:
        value = compute(e164)
        if len(table) < _MEMO_LIMIT:
            table[key] = value
        return value


def _zones_of_number(e164: str) -> tuple[str, ...]:
    number = _parse(e164)
    if number is None:
        return ()
    zones = time_zones_for_number(number)
    if UNKNOWN_TIMEZONE in zones or len(zones) > MAX_PHONE_ZONES:
        return ()
    digits = f"{number.country_code}{number.national_number}"
    if number.country_code == 1 and not _exchange_covered(digits):
        zones = _area_code_zones().get(digits[:4], zones)
    return tuple(sorted({*zones, *_added_zones(digits)}))


def _added_zones(digits: str) -> tuple[str, ...]:
    """The zones config/zone_additions.toml adds under the longest prefix of `digits`."""
    additions = _zone_additions()
    for length in range(len(digits), 0, -1):
        if digits[:length] in additions:
            return additions[digits[:length]]
    return ()


def _state_of_number(e164: str) -> str | None:
    number = _parse(e164)
    if number is None or number.country_code != 1:
        return None
    if phonenumbers.region_code_for_number(number) != "US":
        return None
    if phonenumbers.number_type(number) not in GEOGRAPHIC_TYPES:
        return None
    return _area_code_states().get(str(number.national_number)[:3])


def state_zones(state: str | None) -> tuple[str, ...]:
    """Every zone of a US state, DC or territory (config/state_zones.toml); () when unknown."""
    if not state:
        return ()
    return _state_zone_table().get(state.strip().upper(), ())


def known_state(text: str) -> str:
    """The postal code of a US state, DC or territory, in any case: ' co' -> 'CO'. Anything
    else raises ValueError, suggesting the code where `text` is a name ('Louisiana' -> LA)."""
    code = text.strip().upper()
    if state_zones(code):
        return code
    names = {name.lower(): postal for name, postal in (US_STATES | TERRITORIES).items()}
    suggested = names.get(" ".join(text.lower().split()))
    hint = f"did you mean {suggested}?" if suggested else "use its postal code, e.g. CO"
    raise ValueError(f"{text!r} is not the postal code of a US state or territory; {hint}")


def known_zone(text: str) -> str:
    """An IANA time zone name, spelled exactly ('America/Denver'). Anything else raises
    ValueError, suggesting the name differently cased ('america/denver')."""
    name = text.strip()
    if name in _zone_names():
        return name
    suggested = {zone.lower(): zone for zone in _zone_names()}.get(name.lower())
    hint = f"did you mean {suggested}?" if suggested else "use e.g. America/New_York"
    raise ValueError(f"{text!r} is not an IANA time zone; {hint}")


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def candidate_zones(
    e164: str | None, lead_timezone: str | None, lead_state: str | None
) -> tuple[str, ...]:
    """Phone zones, the lead's own zone and its state's zones, sorted and deduplicated.

    Empty means nothing is known about where the called party is: the caller skips the attempt
    with TZ_UNKNOWN (fail closed).
    """
    zones = set(phone_zones(e164)) if e164 else set()
    if lead_timezone and is_zone(lead_timezone.strip()):
        zones.add(lead_timezone.strip())
    zones.update(state_zones(lead_state))
    return tuple(sorted(zones))


@lru_cache(maxsize=1024)
def is_zone(name: str) -> bool:
    """Whether `name` is an IANA zone zoneinfo can load ('Etc/Unknown' is not)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _parse(e164: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(e164, None)
    except NumberParseException:
        return None


def _exchange_covered(digits: str) -> bool:
    """Whether an entry below the area code covers the number ('1219980', '185043')."""
    return any(digits[:length] in TIMEZONE_DATA for length in EXCHANGE_KEY_LENGTHS)


@cache
def _area_code_zones() -> dict[str, tuple[str, ...]]:
    """'1219' -> every zone under area code 219 (its default and all exchange entries)."""
    union: dict[str, set[str]] = defaultdict(set)
    for prefix, zones in TIMEZONE_DATA.items():
        if prefix.startswith("1") and len(prefix) >= 4:
            union[prefix[:4]].update(zones)
    return {prefix: tuple(sorted(zones)) for prefix, zones in union.items()}


@cache
def _area_code_states() -> dict[str, str]:
    """'305' -> 'FL', from config/area_codes.toml (see `derive_area_code_states`)."""
    with AREA_CODES_PATH.open("rb") as file:
        return tomllib.load(file)["states"]


def derive_area_code_states() -> dict[str, str]:
    """'305' -> 'FL', by majority over phonenumbers' geocoder entries under each area code.

    The area code's own entry names the state ('Florida'); exchange entries name a city
    ('Gary, IN'). A few area codes have only exchange entries, and border exchanges may name
    the neighbouring state, hence the vote. Canadian provinces never match a US code.
    Importing the geocoder takes most of a second, so the result is kept in
    config/area_codes.toml, and a test checks the two still agree.
    """
    from phonenumbers.geodata import GEOCODE_DATA

    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for prefix, names in GEOCODE_DATA.items():
        if prefix.startswith("1") and len(prefix) >= 4:
            state = _state_of(names.get("en", ""))
            if state:
                votes[prefix[1:4]][state] += 1
    return {npa: counter.most_common(1)[0][0] for npa, counter in sorted(votes.items())}


def area_code_table() -> str:
    """config/area_codes.toml as `derive_area_code_states` would write it today."""
    lines = [
        "# The US state of each area code: a majority vote over phonenumbers' geocoder",
        f"# entries under the area code (phonenumbers {phonenumbers.__version__}).",
        "# Regenerate with: make area-codes",
        "",
        "[states]",
        *(f'{npa} = "{state}"' for npa, state in derive_area_code_states().items()),
    ]
    return "\n".join(lines) + "\n"


def _state_of(place: str) -> str | None:
    """'Florida' -> 'FL', 'Gary, IN' -> 'IN', 'Ontario' -> None."""
    match = _CITY_STATE.search(place)
    code = match.group(1) if match else US_STATES.get(place)
    return code if code in US_CODES else None


@cache
def _zone_additions() -> dict[str, tuple[str, ...]]:
    return load_zone_additions(ZONE_ADDITIONS_PATH)


def load_zone_additions(path: Path) -> dict[str, tuple[str, ...]]:
    """Read and check a prefix -> added zones table; ValueError names the bad prefix."""
    return _load_zone_lists(path, "add", "prefix")


@cache
def _state_zone_table() -> dict[str, tuple[str, ...]]:
    return load_state_zones(STATE_ZONES_PATH)


def load_state_zones(path: Path) -> dict[str, tuple[str, ...]]:
    """Read and check a state -> zones table; ValueError names the bad state."""
    return _load_zone_lists(path, "zones", "state")


def _load_zone_lists(path: Path, table_name: str, key_name: str) -> dict[str, tuple[str, ...]]:
    """The table `[table_name]` of `path`: each key (a state, or a prefix of E.164 digits)
    to a non-empty list of known zones, sorted and deduplicated."""
    with path.open("rb") as file:
        table = tomllib.load(file).get(table_name)
    if not isinstance(table, dict):
        raise ValueError(f"{path.name}: the [{table_name}] table is required")
    result = {}
    for key, zones in table.items():
        if key_name == "prefix" and not key.isdigit():
            raise ValueError(f"{path.name}: {key!r} is not a prefix of E.164 digits")
        where = f"{path.name}: {key_name} {key}"
        if not (isinstance(zones, list) and zones):
            raise ValueError(f"{where}: zones must be a non-empty list")
        bad = [zone for zone in zones if not (isinstance(zone, str) and is_zone(zone))]
        if bad:
            raise ValueError(f"{where}: unknown time zone(s) {bad}")
        result[key] = tuple(sorted(set(zones)))
    return result
