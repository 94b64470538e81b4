"""compliance.zones: phone zones widened for split area codes, area-code states, candidates.

Vectors from the reference (compliance-rules.md Z-01..Z-03), checked with phonenumbers 9.0.43.
"""

from __future__ import annotations

import random
import tomllib

import phonenumbers
import pytest
from phonenumbers.timezone import time_zones_for_number

from compliance import zones
from compliance.zones import (
    area_code_state,
    candidate_zones,
    load_state_zones,
    load_zone_additions,
    phone_zones,
    state_zones,
)

BOISE, DENVER, PACIFIC = "America/Boise", "America/Denver", "America/Los_Angeles"
CHICAGO, EASTERN, PHOENIX = "America/Chicago", "America/New_York", "America/Phoenix"
ND_CENTER = "America/North_Dakota/Center"
ALASKA = ("America/Adak", "America/Anchorage", "America/Juneau", "Pacific/Honolulu")


def library(e164: str) -> tuple[str, ...]:
    return tuple(sorted(time_zones_for_number(phonenumbers.parse(e164))))


# --- phone zones -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+13055550100", (EASTERN,)),
        ("+14055550100", (CHICAGO,)),
        ("+19155550100", (DENVER,)),  # El Paso is Mountain
        ("+18085550100", ("Pacific/Honolulu",)),
        ("+17875550100", ("America/Puerto_Rico",)),
        # 208 has no area-code default, only blocks of exchanges: 555 is in '12085'.
        ("+12085550100", (BOISE, PACIFIC)),
        ("+12083450100", (DENVER,)),  # Boise
        ("+12087650100", (PACIFIC,)),  # Coeur d'Alene
        # 219 default is Eastern; exchange 555 is not listed -> the whole area code.
        ("+12195550100", (CHICAGO, EASTERN)),
        ("+12199800100", (CHICAGO,)),  # explicit 7-digit entry '1219980' (Gary)
        ("+16055550100", (CHICAGO, DENVER, ND_CENTER)),
        ("+18505550100", (CHICAGO, EASTERN)),
        ("+18504320100", (CHICAGO,)),  # Pensacola: block entry '185043'
        ("+18502220100", (CHICAGO, EASTERN)),  # Tallahassee is only the area-code default
        ("+19075550100", ALASKA),  # Honolulu comes from the Unalaska entry of 907
        # Unalaska: the data says Honolulu (no DST); config/zone_additions.toml adds Alaska.
        ("+19075810100", ("America/Anchorage", "Pacific/Honolulu")),
        ("+19285550100", (DENVER, PHOENIX)),
        ("+19282830100", (DENVER, PHOENIX)),  # Tuba City, Navajo Nation
        ("+17756640100", (DENVER,)),  # West Wendover
        ("+442079460958", ("Europe/London",)),
    ],
)
def test_phone_zones(e164, expected):
    assert phone_zones(e164) == expected


@pytest.mark.parametrize("e164", ["+12195550100", "+18505550100", "+19285550100"])
def test_an_unlisted_exchange_of_a_split_area_code_gets_more_than_the_library(e164):
    assert len(library(e164)) == 1
    assert set(library(e164)) < set(phone_zones(e164))


@pytest.mark.parametrize(
    "e164",
    [
        "+18005550100",  # toll-free: 42 zones
        "+18885550100",
        "+15005550100",  # personal communication service: 42 zones
        "+16845550100",  # invalid: Etc/Unknown
        "+1305555",  # too short
        "not a number",
        "",
    ],
)
def test_numbers_without_a_place_have_no_zone(e164):
    assert phone_zones(e164) == ()


# --- area code states --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("e164", "state"),
    [
        ("+13055550100", "FL"),
        ("+12195550100", "IN"),
        ("+12025550100", "DC"),  # 'Washington D.C.'
        ("+12065550100", "WA"),  # 'Washington State'
        ("+13125550100", "IL"),  # 'Chicago, IL'
        ("+12035550100", "CT"),  # no area-code entry: majority of the exchange entries
        ("+17135550100", "TX"),
        ("+17185550100", "NY"),
        ("+12015550100", "NJ"),  # one border exchange names NY: the majority wins
        ("+19155550100", "TX"),
        ("+14165550100", None),  # Toronto
        ("+17875550100", None),  # Puerto Rico: not a state
        ("+12425550100", None),  # Bahamas
        ("+18005550100", None),  # toll-free
        ("+442079460958", None),
        ("+16845550100", None),  # invalid
        ("garbage", None),
    ],
)
def test_area_code_state(e164, state):
    assert area_code_state(e164) == state


def test_the_area_code_table_matches_the_geocoder_of_the_installed_phonenumbers():
    # config/area_codes.toml spares every process the geocoder's import; a phonenumbers
    # release that moves an area code must not go unnoticed.
    with zones.AREA_CODES_PATH.open("rb") as file:
        stored = tomllib.load(file)["states"]
    assert stored == zones.derive_area_code_states(), "stale: run `make area-codes`"


def test_every_us_geographic_area_code_has_a_state():
    missing = []
    for npa in range(200, 1000):
        number = _sample_us_number(npa)
        if number and area_code_state(number) not in zones.US_CODES:
            missing.append(npa)
    assert missing == []


def _sample_us_number(npa: int) -> str | None:
    """A valid US fixed-line/mobile number of the area code, if it is one."""
    for exchange in ("234", "555", "456", "789", "212", "720", "300"):
        number = phonenumbers.parse(f"+1{npa}{exchange}0100")
        if not phonenumbers.is_valid_number(number):
            continue
        if phonenumbers.region_code_for_number(number) != "US":
            return None
        if phonenumbers.number_type(number) not in zones.GEOGRAPHIC_TYPES:
            return None
        return f"+1{npa}{exchange}0100"
    return None


# --- state zones and candidates ----------------------------------------------------------------

FIFTY_AND_DC = set(zones.US_CODES)


def test_every_state_and_dc_has_zones():
    assert len(FIFTY_AND_DC) == 51
    assert {state for state in FIFTY_AND_DC if not state_zones(state)} == set()


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("FL", (CHICAGO, EASTERN)),
        ("IN", (CHICAGO, EASTERN)),
        ("in ", (CHICAGO, EASTERN)),
        ("TX", (CHICAGO, DENVER)),
        ("AZ", (DENVER, PHOENIX)),
        ("CO", (DENVER,)),
        ("XX", ()),
        ("", ()),
        (None, ()),
    ],
)
def test_state_zones(state, expected):
    assert state_zones(state) == expected


@pytest.mark.parametrize(
    ("e164", "lead_timezone", "lead_state", "expected"),
    [
        # S-00: a Colorado lead with a Florida number may be in either place.
        ("+13055550100", None, "CO", (DENVER, EASTERN)),
        ("+13055550100", "America/Denver", None, (DENVER, EASTERN)),
        ("+13055550100", EASTERN, "FL", (CHICAGO, EASTERN)),
        ("+18005550100", CHICAGO, None, (CHICAGO,)),
        ("+18005550100", None, "AZ", (DENVER, PHOENIX)),
        ("+18005550100", None, None, ()),  # -> TZ_UNKNOWN
        ("+18005550100", "Etc/Unknown", None, ()),
        ("+18005550100", "Mars/Olympus_Mons", "ZZ", ()),
        (None, " America/Chicago ", None, (CHICAGO,)),
        (None, None, None, ()),
    ],
)
def test_candidate_zones(e164, lead_timezone, lead_state, expected):
    assert candidate_zones(e164, lead_timezone, lead_state) == expected


def test_bad_state_zone_data_names_the_state(tmp_path):
    path = tmp_path / "state_zones.toml"
    path.write_text('[zones]\nFL = ["America/New_York", "America/Chicgo"]\n')

    with pytest.raises(ValueError, match=r"state FL: unknown time zone\(s\) \['America/Chicgo'\]"):
        load_state_zones(path)


def test_state_zone_data_needs_a_zones_table(tmp_path):
    path = tmp_path / "state_zones.toml"
    path.write_text('FL = ["America/New_York"]\n')

    with pytest.raises(ValueError, match=r"\[zones\] table is required"):
        load_state_zones(path)


def test_zone_additions_name_a_bad_zone_and_a_bad_prefix(tmp_path):
    path = tmp_path / "zone_additions.toml"
    path.write_text('[add]\n"1907581" = ["America/Anchorge"]\n')
    with pytest.raises(ValueError, match=r"prefix 1907581: unknown time zone\(s\)"):
        load_zone_additions(path)

    path.write_text('[add]\n"+1907" = ["America/Anchorage"]\n')
    with pytest.raises(ValueError, match=r"'\+1907' is not a prefix of E.164 digits"):
        load_zone_additions(path)


def test_zone_and_state_depend_only_on_area_code_and_exchange():
    # phone_zones and area_code_state cache on +1 NPA NXX; sample that this loses nothing.
    rng = random.Random(5)
    for _ in range(1500):
        prefix = f"+1{rng.randint(200, 999)}{rng.randint(200, 999)}"
        numbers = [f"{prefix}{rng.randrange(10_000):04d}" for _ in range(3)]
        assert len({zones._zones_of_number(number) for number in numbers}) == 1, prefix
        assert len({zones._state_of_number(number) for number in numbers}) == 1, prefix


def test_the_exchange_cache_never_answers_for_a_short_number():
    assert phone_zones("+13055550100") == ("America/New_York",)
    assert phone_zones("+1305555") == ()
    assert area_code_state("+1305555") is None
