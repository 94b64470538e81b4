"""compliance.phone: vectors, reasons, and the fast path checked against phonenumbers."""

from __future__ import annotations

import dataclasses
import json
import pickle
import random
import re

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance import phone
from compliance.phone import InvalidNumber, PhoneNumber, from_key, normalize, to_key

E164 = "+13055550134"
DIGIT = "0123456789"


def reference(value: str, region: str = "US") -> str | None:
    """phonenumbers' full validating pipeline: E.164 when valid, None when invalid/unparseable."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def outcome(value: object, region: str = "US") -> str | None:
    try:
        return normalize(value, region).e164
    except InvalidNumber:
        return None


# --- accepted ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "e164", "extension"),
    [
        ("(305) 555-0134", E164, None),
        ("305.555.0134", E164, None),
        ("+1 305 555 0134", E164, None),
        ("3055550134", E164, None),
        ("1-305-555-0134", E164, None),
        ("001 305 555 0134", E164, None),
        ("  (305)555-0134  ", E164, None),
        ("+1 (305) 555-0134 x123", E164, "123"),
        ("305-555-0134 ext. 42", E164, "42"),
        ("305-555-0134 ext 42", E164, "42"),
        ("305 555 0134 extension 123", E164, "123"),
        ("305-555-0134 #123", E164, "123"),
        ("305 555 0134;ext=123", E164, "123"),
        ("3055550134 X 5", E164, "5"),
        ("3055550134.0", E164, None),
        ("+13055550134.00", E164, None),
        (3055550134.0, E164, None),
        (3055550134, E164, None),
        (13055550134, E164, None),
        ("３０５５５５０１３４", E164, None),  # full-width digits
        ("٣٠٥٥٥٥٠١٣٤", E164, None),  # Arabic-Indic digits
        ("305\u00a0555\u00a00134", E164, None),  # no-break spaces
        ("305\u2009555\u20090134", E164, None),  # thin spaces (phonenumbers alone refuses these)
        ("305\t555\t0134", E164, None),
        ("（305）555\u20130134", E164, None),  # full-width parentheses, en dash
        ("1-800-FLOWERS", "+18003569377", None),  # vanity, toll-free
        ("(305) 555-CALL", "+13055552255", None),
        ("+44 20 7946 0958", "+442079460958", None),
        ("+44 (0)20 7946 0958", "+442079460958", None),
        ("+1 1 305 555 0134", E164, None),  # national prefix after the country code
        ("310-1234", "+13101234", None),  # phonenumbers: a valid Canadian 7-digit 310 number
        ("(800) 141-2345", "+18001412345", None),  # valid: the DO region claims 8001
        ("011 44 20 7946 0958", "+442079460958", None),  # US international prefix
    ],
)
def test_accepted(value: object, e164: str, extension: str | None) -> None:
    number = normalize(value)
    assert number == PhoneNumber(e164, extension)
    assert number.key == int(e164[1:])


def test_regions() -> None:
    assert normalize("3055550134", "CA").e164 == E164
    assert normalize("3055550134", "us").e164 == E164
    assert normalize("020 7946 0958", "GB").e164 == "+442079460958"
    assert normalize("462 1234", "AG").e164 == "+12684621234"  # Antigua's 7-digit local form
    with pytest.raises(ValueError, match="unknown region"):
        normalize("3055550134", "XX")


# --- rejected ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown", "reason"),
    [
        ("", "", "empty"),
        ("  ", "", "empty"),
        (None, "", "empty"),
        ("\u00a0", "", "empty"),
        ("n/a", "n/a", "no digits"),
        ("call me", "call me", "no digits"),
        ("3.05555E+09", "3.05555E+09", "scientific notation: digits may have been lost"),
        ("3.055550134e9", "3.055550134e9", "scientific notation: digits may have been lost"),
        (3055550134.5, "3055550134.5", "digits may have been lost in a spreadsheet"),
        (float("nan"), "nan", "not a phone number"),
        (True, "True", "not a phone number"),
        (-3055550134, "-3055550134", "negative"),
        (1055550134.0, "1055550134.0", "area code 105 cannot start with 0 or 1"),
        (305555013, "305555013", "too short: 9 digits"),
        (b"3055550134", "b'3055550134'", "not a phone number: a bytes"),
        ("305555", "305555", "too short: 6 digits, a US number has 10"),
        ("555-0134", "555-0134", "too short: 7 digits, a US number has 10"),
        ("305555013412345", "305555013412345", "too long: 15 digits, a US number has 10"),
        ("(305) 555-01345", "(305) 555-01345", "too long: 11 digits"),
        ("(105) 555-0134", "(105) 555-0134", "area code 105 cannot start with 0 or 1"),
        ("(005) 555-0134", "(005) 555-0134", "area code 005 cannot start with 0 or 1"),
        ("+1 105 555 0134", "+1 105 555 0134", "area code 105 cannot start with 0 or 1"),
        ("1-105-555-0134", "1-105-555-0134", "area code 105 cannot start with 0 or 1"),
        ("(305) 155-0134", "(305) 155-0134", "exchange 155 cannot start with 0 or 1"),
        ("305.055.0134", "305.055.0134", "exchange 055 cannot start with 0 or 1"),
        ("(911) 555-0134", "(911) 555-0134", "area code 911 is an N11 service code"),
        ("(411) 555-0134", "(411) 555-0134", "area code 411 is an N11 service code"),
        ("(555) 555-0134", "(555) 555-0134", "area code 555 is not in service"),
        ("(387) 555-0134", "(387) 555-0134", "area code 387 is not in service"),
        ("3055550134.5", "3055550134.5", "too long: 11 digits"),
        ("+44 20 7946", "+44 20 7946", "for region GB (+44)"),
        ("+999 1234 5678", "+999 1234 5678", "unknown country calling code"),
        ("  (305) 555\t01", "  (305) 555\t01", "too short: 8 digits"),
    ],
)
def test_rejected_with_reason(value: object, shown: str, reason: str) -> None:
    with pytest.raises(InvalidNumber) as caught:
        normalize(value)
    assert reason in caught.value.reason
    assert caught.value.value == shown
    assert str(caught.value) == f"{shown!r}: {caught.value.reason}"


def test_each_cause_has_its_own_message() -> None:
    values = [
        "",
        "n/a",
        "3.05555E+09",
        "555-0134",
        "305555013412345",
        "(105) 555-0134",
        "(305) 155-0134",
        "(911) 555-0134",
        "(555) 555-0134",
    ]
    assert len({_reason(v) for v in values}) == len(values)


def _reason(value: str) -> str:
    with pytest.raises(InvalidNumber) as caught:
        normalize(value)
    return re.sub(r"\d", "#", caught.value.reason)


def test_invalid_number_api() -> None:
    error = InvalidNumber("305555", "too short: 6 digits, a US number has 10")
    assert isinstance(error, ValueError)
    assert (error.value, error.reason) == ("305555", "too short: 6 digits, a US number has 10")
    assert str(error) == "'305555': too short: 6 digits, a US number has 10"
    again = pickle.loads(pickle.dumps(error))
    assert (again.value, again.reason, str(again)) == (error.value, error.reason, str(error))


# --- text around the digits --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "e164", "extension"),
    [
        ("1-800-FLOWERS", "+18003569377", None),
        ("+1 (800) FLOWERS", "+18003569377", None),
        ("1 800 flowers", "+18003569377", None),
        ("800-FLOWERS", "+18003569377", None),
        ("1-800-GOT-JUNK", "+18004685865", None),
        ("1-800-FLOWERS ext 5", "+18003569377", "5"),
        ("１－８００－ＦＬＯＷＥＲＳ", "+18003569377", None),  # full-width letters and dashes
        ("tel:+1-305-555-0134", E164, None),  # RFC 3966
        ("TEL:3055550134", E164, None),
        ("tel:+1-305-555-0134;ext=12", E164, "12"),
        ("'+1 305 555 0134", E164, None),  # a spreadsheet's text marker (CSV cells we write)
        ("\u202a+1 (305) 555-0134\u202c", E164, None),  # as a phone's contacts app copies it
        ("212.555.0127.", "+12125550127", None),
        ("[212] 555-0127", "+12125550127", None),
        ("305-555-0134\n", E164, None),
        ("３０５5550134", E164, None),  # full-width and ASCII digits look the same
    ],
)
def test_a_whole_number_is_accepted(value: str, e164: str, extension: str | None) -> None:
    assert normalize(value) == PhoneNumber(e164, extension)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        # words before or after the digits
        ("abc2125550127", "text before the number: 'abc'"),
        ("call me at 2125550128", "text before the number: 'call me at'"),
        ("Phone: 2125550127", "text before the number: 'Phone:'"),
        ("(mobile) 2125550127", "text before the number: '(mobile)'"),
        ("x2125550127", "text before the number: 'x'"),
        ("2125550127 call me", "text after the number: 'call me'"),
        ("212-555-0127 home", "text after the number: 'home'"),
        ("2125550127 (mobile)", "text after the number: '(mobile)'"),
        ("2125550127abc", "text after the number: 'abc'"),
        ("2125550127x", "text after the number: 'x'"),
        ("305-555-0134 ext", "text after the number: 'ext'"),
        ("305-555-0134 ext 1234567890123", "text after the number: 'ext 1234567890123'"),
        ("(212) 555-0127 or (212) 555-0128", "text after the number: 'or (212) 555-0128'"),
        ("call x123", "no number before the extension"),
        # shell and spreadsheet metacharacters
        ("`id`2125550123", "text before the number: '`id`'"),
        ("$(touch x)2125550122", "text before the number: '$(touch x)'"),
        ("2125550127; rm -rf /", "text after the number: '; rm -rf /'"),
        ("2125550127 && reboot", "text after the number: '&& reboot'"),
        ("212|555|0127", "'|' is not part of a phone number"),
        ("212&555&0127", "'&' is not part of a phone number"),
        ("212*555*0127", "'*' is not part of a phone number"),
        ("=2125550127", "text before the number: '='"),
        ('"2125550127"', "text before the number: '\"'"),
        ("305+555+0134", "'+' may only start the number"),
        ("#2125550127", "text before the number: '#'"),
        # letters that are no vanity letters
        ("1-800-FLOWЕRS", "'Е' (CYRILLIC CAPITAL LETTER IE) is not a keypad letter"),
        ("(305) 555-O134", "a lone letter 'O' among digits"),
        ("(3O5) 555-0134", "a lone letter 'O' among digits"),
        ("1 FLOWERS", "vanity letters follow the area code"),
        ("(305) 555-CALL!", "'!' is not part of a phone number"),
        # hidden characters, mixed scripts, size
        ("2125550127\x00", "a control character (U+0000)"),
        ("212555\x1b0127", "a control character (U+001B)"),
        ("212555\x850127", "a control character (U+0085)"),
        ("\u202e2125550127", "a right-to-left override (U+202E)"),
        ("212555٠١٢٧", "digits of two scripts (ARABIC-INDIC, ASCII)"),
        ("305 555 01৪4", "digits of two scripts (ASCII, BENGALI)"),
    ],
)
def test_text_around_the_digits_is_refused_with_the_reason(value: str, reason: str) -> None:
    with pytest.raises(InvalidNumber) as caught:
        normalize(value)
    assert reason in caught.value.reason
    assert caught.value.value == value


def test_a_very_long_input_is_refused_and_not_echoed_whole() -> None:
    for value in ("2125550127" * 100, "1" * 10_000_000, "a" * 10_000_000 + "2125550127"):
        with pytest.raises(InvalidNumber) as caught:
            normalize(value)
        assert f"too long: {len(value):,} characters" in caught.value.reason
        assert len(str(caught.value)) < 200


# --- PhoneNumber and storage keys --------------------------------------------------------------


def test_phone_number_is_a_frozen_value() -> None:
    fast = normalize("(305) 555-0134")  # built by the fast path, bypassing __init__
    assert fast == PhoneNumber(E164, None)
    assert hash(fast) == hash(PhoneNumber(E164, None))
    assert repr(fast) == "PhoneNumber(e164='+13055550134', extension=None)"
    assert fast.key == 13055550134
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.e164 = "+13055550135"  # type: ignore[misc]
    assert not hasattr(fast, "__dict__")


def test_keys_round_trip() -> None:
    assert to_key(E164) == 13055550134
    assert from_key(13055550134) == E164
    assert to_key("+442079460958") == 442079460958
    assert from_key(to_key("+442079460958")) == "+442079460958"
    for bad in ("13055550134", "+", "+1305555013x", "+0123", "+1234567890123456"):
        with pytest.raises(InvalidNumber):
            to_key(bad)
    for bad_key in (0, -1, True, 10**15):
        with pytest.raises(InvalidNumber):
            from_key(bad_key)


# --- the fast path -----------------------------------------------------------------------------


def test_fast_path_does_not_call_phonenumbers(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("phonenumbers.parse was called")

    monkeypatch.setattr(phonenumbers, "parse", refuse)
    for value in ("(305) 555-0134", "305.555.0134", "+1 305 555 0134", "1-305-555-0134"):
        assert normalize(value).e164 == E164
    assert normalize(3055550134).e164 == E164
    assert normalize(13055550134.0).e164 == E164
    assert normalize("3055550134 x12") == PhoneNumber(E164, "12")
    assert normalize("３０５５５５０１３４").e164 == E164
    assert normalize("+44 20 7946 0958").e164 == "+442079460958"
    for value in ("555-0134", "(105) 555-0134", "(305) 155-0134", "(555) 555-0134", "n/a", ""):
        with pytest.raises(InvalidNumber):
            normalize(value)


def test_prefix_table_only_holds_prefixes_whose_every_number_is_valid() -> None:
    nanp = phone._nanp()
    assert len(nanp.valid4) > 1000  # the shortcut is in effect
    rng = random.Random(4)
    for prefix in sorted(nanp.valid4):
        # every digit in every remaining position, the other positions random
        for position in range(6):
            for digit in "0123456789":
                rest = [rng.choice("0123456789") for _ in range(6)]
                rest[position] = digit
                assert nanp.first10(prefix + "".join(rest)), prefix + "".join(rest)
    for prefix in rng.sample(sorted(nanp.valid4), 200):
        number = phonenumbers.parse(f"+1{prefix}{rng.randrange(10**6):06d}")
        assert phonenumbers.is_valid_number(number)


def test_prefix_analysis_on_small_patterns() -> None:
    analyse = phone._always_matching_prefixes
    assert analyse(r"8(?:00|33)[2-9]\d{6}", 10, 4) == {"8002", "8332"} | {
        f"8{a}{a}{d}" for a in "03" for d in "3456789"
    }
    assert analyse(r"3\d{2}?5\d{6}", 10, 4) == {
        f"3{a}{b}5" for a in "0123456789" for b in "0123456789"
    }
    assert analyse(r"52[0-8](?:[2-9]\d\d|1[0-5]\d)\d{4}", 10, 4) == {
        f"52{a}{b}" for a in "012345678" for b in "23456789"
    }
    assert analyse(r"(?=2)\d{10}", 10, 4) == frozenset()  # lookahead: not modelled, no shortcut


def test_validity_table_matches_phonenumbers_for_every_area_code() -> None:
    """The mirrored NANP validity against is_valid_number, every NPA x first exchange digit."""
    rng = random.Random(10)
    for npa in range(200, 1000):
        for exchange_digit in range(10):
            nsn = f"{npa}{exchange_digit}{rng.randrange(10**6):06d}"
            number = phonenumbers.PhoneNumber(country_code=1, national_number=int(nsn))
            assert phone._nanp_valid(nsn) == phonenumbers.is_valid_number(number), nsn


# Area codes where the NANP regions' rules differ: Canada, the Caribbean and DO/JM/PR claims
# (8001, 809/829/849, 658/876), toll-free, premium, personal (5XX), N11, 555, unassigned.
_SPECIAL_NPAS = (
    "212 305 310 416 514 604 204 867 800 801 809 829 849 876 658 787 939 264 268 242 246 441 "
    "345 284 340 670 671 684 721 758 767 784 868 869 649 664 473 833 844 855 866 877 888 880 "
    "900 500 521 522 523 524 525 533 544 566 577 588 600 622 700 710 983 555 911 411 387 999"
)
SPECIAL_NPAS = tuple(_SPECIAL_NPAS.split())
SPECIAL_EXCHANGES = ("555", "141", "123", "100", "011", "211", "911", "976")
PREFIXES = ("", "", "", "1", "1 ", "1-", "+1", "+1 ", "+1-", "+ 1 ", "(+1) ", "001 ", "0", "11")
SEPARATORS = ("", "", " ", "-", ".", "/", "  ", " - ", ". ")


@st.composite
def north_american(draw: st.DrawFn) -> str:
    npa = draw(st.one_of(st.sampled_from(SPECIAL_NPAS), st.integers(0, 999).map("{:03d}".format)))
    exchange = draw(st.one_of(st.sampled_from(SPECIAL_EXCHANGES), st.integers(0, 999)))
    line = f"{draw(st.integers(0, 9999)):04d}"
    exchange = f"{exchange:03d}" if isinstance(exchange, int) else exchange
    # mostly 10 digits; sometimes one or more digits short or long
    change = draw(st.sampled_from((0, 0, 0, 0, 0, 0, -1, -3, 1, 2)))
    line = line[: len(line) + change] if change < 0 else line + "7" * change
    area = f"({npa})" if draw(st.booleans()) else npa
    first, second = draw(st.sampled_from(SEPARATORS)), draw(st.sampled_from(SEPARATORS))
    return f"{draw(st.sampled_from(PREFIXES))}{area}{first}{exchange}{second}{line}"


WELL_FORMED = re.compile(r"(?:\+?1|001)?[2-9]\d{9}")


@settings(max_examples=3000, deadline=None, database=None)
@given(north_american(), st.sampled_from(("US", "US", "US", "CA", "DO", "JM", "PR")))
def test_fast_path_agrees_with_phonenumbers(value: str, region: str) -> None:
    digits = value.translate(phone._STRIP)
    if re.fullmatch(r"001\d{10}", digits):
        # deliberate: '001' (the international prefix used abroad) means +1
        expected = reference("+1" + digits[3:], region)
    else:
        expected = reference(value, region)
    assert outcome(value, region) == expected, value

    if WELL_FORMED.fullmatch(digits):
        # the fast path settles it on its own, with the same verdict as phonenumbers
        assert phone._fast_nsn(digits) is not None
        assert phone._fast_e164(digits) == expected, value


COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


@settings(
    max_examples=1000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.sampled_from(COUNTRY_CODES),
    st.text(DIGIT, min_size=1, max_size=13),
    st.sampled_from(("", " ", "-")),
)
def test_international_fast_path_agrees_with_phonenumbers(
    code: int, national: str, separator: str
) -> None:
    example = phonenumbers.example_number_for_type(
        phonenumbers.region_code_for_country_code(code), phonenumbers.PhoneNumberType.MOBILE
    )
    if example is not None and national[0] in "02468":
        # half the time start from a real number of the country, with its tail replaced
        real = str(example.national_number)
        national = real[: max(0, len(real) - len(national) // 2)] + national[: len(national) // 2]
    value = f"+{code}{separator}{national}"
    expected = reference(value)
    assert outcome(value) == expected, value
    fast = phone._fast_international(value.translate(phone._STRIP))
    assert fast is None or fast == expected, value


# --- the region of a number --------------------------------------------------------------------


def test_region_of_names_the_region_phonenumbers_names() -> None:
    rng = random.Random(11)
    examples = [
        phonenumbers.PhoneNumber(country_code=1, national_number=int(f"{npa}{rest:07d}"))
        for npa in range(200, 1000)
        for rest in rng.sample(range(10**7), 10)
    ]
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                examples.append(example)
    examples.append(phonenumbers.parse("+80012345678"))
    checked = 0
    for number in examples:
        if phonenumbers.is_valid_number(number):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            expected = phonenumbers.region_code_for_number(number)
            assert phone.region_of(e164) == (None if expected == "001" else expected), e164
            checked += 1
    assert checked > 2000


def test_region_of_refuses_what_is_not_e164() -> None:
    for bad in ("3055550134", "+999123456", ""):
        with pytest.raises(InvalidNumber):
            phone.region_of(bad)


# --- as the commands see it --------------------------------------------------------------------


def test_dnc_add_refuses_text_around_a_number_and_adds_nothing(dialer):
    refused = dialer("dnc", "add", "2125550127", "$(touch x)2125550122")

    assert refused.exit_code == 1
    assert "text before the number: '$(touch x)'" in refused.stderr
    assert "Traceback" not in refused.output
    assert json.loads(dialer("dnc", "log", "--json").stdout) == []


def test_leads_import_reports_text_around_a_number_as_an_invalid_row(dialer, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(
        "phone,external_id\n305-555-0134,GOOD\ncall me at 2125550128,WORDS\n`id`2125550123,SHELL\n"
    )

    summary = json.loads(dialer("leads", "import", str(path), "--json").stdout)

    assert summary["added"] == 1
    assert [(row["row"], row["error"]) for row in summary["invalid"]] == [
        (3, "phone: text before the number: 'call me at'"),
        (4, "phone: text before the number: '`id`'"),
    ]
    assert dialer("leads", "show", "GOOD").exit_code == 0
    assert dialer("leads", "show", "WORDS").exit_code == 1
    assert dialer("leads", "show", "SHELL").exit_code == 1
