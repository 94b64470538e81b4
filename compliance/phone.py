"""The one phone-number normalizer of the product: any input -> E.164, or a reason why not.

`normalize` has two paths that give the same answer:

* a fast path for digit strings (`(305) 555-0134`, `+1 305 555 0134`, `+44 20 7946 0958`, ...):
  delete the punctuation with `bytes.translate`, find the national number the way
  `phonenumbers.parse` would, and check it against validity tables compiled (lazily, once per
  country code) from phonenumbers' own metadata, mirroring `phonenumbers.is_valid_number`
  exactly (region claim by leading digits, general description, possible lengths, every number
  type). Most US numbers are settled by a set of 4-digit prefixes (area code + first exchange
  digit) derived from the same patterns, the rest by one regex match;
* phonenumbers' full `parse` + `is_valid_number` + `format_number(E164)` for everything else
  (vanity letters, anything the fast path is not sure about), and for the reason of a rejection
  that the fast path cannot explain itself.

The fast path only runs for default regions that parse national numbers exactly like the US (US,
CA, DO, JM, PR); it never accepts a number that phonenumbers rejects, nor rejects one it accepts.

Deliberate differences from plain phonenumbers, all applied before either path: Unicode digits,
dashes and spaces (NBSP, thin space, tab) are mapped to ASCII; extensions are cut off into
`PhoneNumber.extension`; spreadsheet artefacts are handled (`3055550134.0` is accepted, scientific
notation is refused); and `001` followed by a NANP number is read as `+1`.

phonenumbers finds a number inside any text (`call me at 2125550128`, `` `id`2125550123 ``); this
normalizer takes only a number: digits and the punctuation written between them, a leading `+`,
`tel:` or a spreadsheet's `'`, and letters only as vanity letters ending a number that is nothing
else (`1-800-FLOWERS`). Text before or after it, other symbols, control characters, display
overrides, digits of two scripts and inputs of more than 100 characters are refused, each with its
reason. Digit strings never contain any of these, so the fast path checks nothing more.
"""

from __future__ import annotations

import math
import numbers
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberDesc, PhoneNumberFormat

__all__ = ["InvalidNumber", "PhoneNumber", "from_key", "normalize", "region_of", "to_key"]


class InvalidNumber(ValueError):
    """Raised with the offending value and a human reason.

    Example: ``InvalidNumber('305555', 'too short: 6 digits, a US number has 10')``;
    ``str(exc)`` is ``"'305555': too short: 6 digits, a US number has 10"``.
    """

    value: str
    reason: str

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(value, reason)
        self.value = value
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.value!r}: {self.reason}"


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A valid number in E.164 form, plus the extension the input carried (if any)."""

    e164: str
    extension: str | None = None

    @property
    def key(self) -> int:
        """The E.164 digits as an int (``13055550134``): the storage key."""
        return int(self.e164[1:])


def to_key(e164: str) -> int:
    """``'+13055550134'`` -> ``13055550134``."""
    if not (
        isinstance(e164, str)
        and e164.startswith("+")
        and e164[1:].isascii()
        and e164[1:].isdigit()
        and e164[1] != "0"
        and len(e164) <= 16
    ):
        raise InvalidNumber(str(e164), "not an E.164 string ('+' and up to 15 digits)")
    return int(e164[1:])


def from_key(key: int) -> str:
    """``13055550134`` -> ``'+13055550134'``."""
    if isinstance(key, bool) or not isinstance(key, int) or not 0 < key < 10**15:
        raise InvalidNumber(str(key), "not a storage key (a positive int of up to 15 digits)")
    return f"+{key}"


# Fast construction of the frozen dataclass: the generated __init__ goes through
# object.__setattr__ for every field, which costs more than the whole fast path.
_new = object.__new__
_set_e164 = PhoneNumber.__dict__["e164"].__set__
_set_extension = PhoneNumber.__dict__["extension"].__set__


def _make(e164: str, extension: str | None) -> PhoneNumber:
    number = _new(PhoneNumber)
    _set_e164(number, e164)
    _set_extension(number, extension)
    return number


# ---------------------------------------------------------------------------------------------
# Validity, mirrored from phonenumbers.is_valid_number
# ---------------------------------------------------------------------------------------------
#
# For a country calling code, is_valid_number does:
#   region = region_code_for_number(n): the only region of the code or, when several share it
#            (NANP: US first, then AG, AI, ... CA ...), the first one whose `leading_digits`
#            regex matches the start of the national number or, for a region without
#            leading_digits (US, CA), whose number type is not UNKNOWN;
#   valid  = _number_type_helper(nsn, metadata(region)) != UNKNOWN, i.e. the general description
#            fullmatches and so does one of the type descriptions below, where a description
#            only counts if it has a pattern and its possible_length (when non-empty) holds
#            len(nsn). `mobile` is skipped when same_mobile_and_fixed_line_pattern (then
#            fixed_line is the same pattern).
# The number type order does not matter for validity, so the most common type goes first.

_TYPE_FIELDS = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)
# General descriptions that every 10-digit string starting with 2-9 fullmatches.
_TRIVIAL_NANP_GENERAL = ("[2-9]\\d{9}|3\\d{6}", "[2-9]\\d{9}")

_Match = Callable[[str], object]


def _desc_pattern(desc: PhoneNumberDesc | None, length: int) -> str | None:
    """The desc's national number pattern if a number of `length` digits can match it."""
    if desc is None:
        return None
    lengths = desc.possible_length
    if lengths and length not in lengths:
        return None
    return desc.national_number_pattern or None


def _types_pattern(metadata: PhoneMetadata, length: int) -> str | None:
    """Union of the number type patterns that can match `length` digits (general not checked)."""
    alternatives = []
    for field in _TYPE_FIELDS:
        if field == "mobile" and metadata.same_mobile_and_fixed_line_pattern:
            continue
        pattern = _desc_pattern(getattr(metadata, field), length)
        if pattern is not None:
            alternatives.append(f"(?:{pattern})")
    return "|".join(alternatives) or None


def _type_union(metadata: PhoneMetadata, length: int) -> str | None:
    """One regex equivalent to `_number_type_helper(...) != UNKNOWN` for this length."""
    general = _desc_pattern(metadata.general_desc, length)
    types = _types_pattern(metadata, length)
    if general is None or types is None:
        return None
    return f"(?=(?:{general})\\Z)(?:{types})"


class _Unsupported(Exception):
    """A regex construct the prefix analysis below does not model."""


def _always_matching_prefixes(pattern: str, length: int, size: int) -> frozenset[str]:
    """All `size`-digit prefixes p such that `pattern` fullmatches every `length`-digit p+s.

    The pattern is parsed with the re module's own parser into a Thompson NFA over the digits
    0-9, and the NFA is walked with the subset construction. Constructs other than literals,
    classes, groups, alternation and bounded repeats give an empty set (no shortcut).
    """
    try:
        from re import _parser as sre  # the re module's parser (private, stable in 3.11+)
    except ImportError:
        return frozenset()
    digits = "0123456789"
    edges: list[list[tuple[str | None, int]]] = []  # per state: (digit set or None=ε, target)

    def state() -> int:
        edges.append([])
        return len(edges) - 1

    def charset(items: list[tuple[Any, Any]]) -> str:
        chosen: set[str] = set()
        negate = False
        for op, av in items:
            if op is sre.LITERAL:
                chosen.add(chr(av))
            elif op is sre.RANGE:
                low, high = av
                chosen.update(chr(c) for c in range(low, high + 1))
            elif op is sre.CATEGORY and av is sre.CATEGORY_DIGIT:
                chosen.update(digits)
            elif op is sre.NEGATE:
                negate = True
            else:
                raise _Unsupported(op)
        return "".join(d for d in digits if (d in chosen) != negate)

    def sequence(items: list[tuple[Any, Any]], start: int) -> int:
        for op, av in items:
            start = node(op, av, start)
        return start

    def node(op: Any, av: Any, start: int) -> int:
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY):
            if op is sre.LITERAL:
                chars = chr(av)
            elif op is sre.NOT_LITERAL:
                chars = digits.replace(chr(av), "")
            elif op is sre.IN:
                chars = charset(av)
            else:
                chars = digits
            end = state()
            edges[start].append((chars, end))
            return end
        if op is sre.SUBPATTERN:
            return sequence(av[3], start)
        if op is sre.BRANCH:
            end = state()
            for alternative in av[1]:
                edges[sequence(alternative, start)].append((None, end))
            return end
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, item = av
            if op is sre.POSSESSIVE_REPEAT and low != high:
                raise _Unsupported(op)
            for _ in range(low):
                start = sequence(item, start)
            end = state()
            edges[start].append((None, end))
            for _ in range(min(high, low + length) - low):  # MAXREPEAT: no more than `length`
                start = sequence(item, start)
                edges[start].append((None, end))
            return end
        raise _Unsupported(op)

    try:
        first = state()
        final = sequence(list(sre.parse(pattern)), first)
    except (_Unsupported, AttributeError, re.error):
        return frozenset()  # no shortcut: the regex decides every number

    def closure(states: frozenset[int]) -> frozenset[int]:
        seen = set(states)
        todo = list(states)
        while todo:
            for chars, target in edges[todo.pop()]:
                if chars is None and target not in seen:
                    seen.add(target)
                    todo.append(target)
        return frozenset(seen)

    @cache
    def step(states: frozenset[int], digit: str) -> frozenset[int]:
        return closure(
            frozenset(t for s in states for chars, t in edges[s] if chars and digit in chars)
        )

    @cache
    def accepts_all(states: frozenset[int], remaining: int) -> bool:
        if not states:
            return False
        if remaining == 0:
            return final in states
        return all(accepts_all(step(states, d), remaining - 1) for d in digits)

    found = set()
    frontier = {"": closure(frozenset((first,)))}
    for _ in range(size):
        frontier = {
            prefix + d: after
            for prefix, states in frontier.items()
            for d in digits
            if (after := step(states, d))
        }
    for prefix, states in frontier.items():
        if accepts_all(states, length - size):
            found.add(prefix)
    return frozenset(found)


class _Country:
    """One country calling code's metadata, compiled for the fast path (built on first use)."""

    def __init__(self, code: int) -> None:
        self.code = code
        self.regions: tuple[str, ...] = tuple(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code])
        self.metadata = [PhoneMetadata.metadata_for_region(r) for r in self.regions]
        leading = [m.leading_digits for m in self.metadata]
        # The claiming region (see above) in one regex match: the first region, in order, whose
        # leading_digits match is the first alternative that matches; m.lastgroup names it.
        # Regions without leading_digits (US, CA) claim by type and are tried separately.
        self.by_type = [i for i, digits in enumerate(leading) if digits is None]
        self.first_leading: Callable[[str], re.Match[str] | None] = re.compile(
            "|".join(
                f"(?P<r{i}>{digits})" for i, digits in enumerate(leading) if digits is not None
            )
            or "(?!)"
        ).match
        # parse() strips the national prefix (when its regex matches) from the national number
        # of the main region; the fast path leaves such numbers to phonenumbers.
        prefix = self.metadata[0].national_prefix_for_parsing
        self.prefix: _Match | None = re.compile(prefix).match if prefix else None
        self._by_length: dict[int, list[_Match | None]] = {}

    def for_length(self, length: int) -> list[_Match | None]:
        """Per-region validity matchers for numbers of `length` digits."""
        matchers = self._by_length.get(length)
        if matchers is None:
            patterns = [_type_union(m, length) for m in self.metadata]
            matchers = [re.compile(p).fullmatch if p else None for p in patterns]
            self._by_length[length] = matchers
        return matchers

    def valid(self, nsn: str) -> bool:
        """Exactly `is_valid_number` for +code `nsn` (`nsn`: national ASCII digits)."""
        matchers = self.for_length(len(nsn))
        if len(matchers) == 1:  # a lone region is never asked to claim the number
            return matchers[0] is not None and matchers[0](nsn) is not None
        claimer = self.claimer(nsn, matchers)
        if claimer is None:
            return False
        matcher = matchers[claimer]
        return matcher is not None and matcher(nsn) is not None

    def claimer(self, nsn: str, matchers: list[_Match | None]) -> int | None:
        """The index of the region that claims +code `nsn` (`region_code_for_number`)."""
        found = self.first_leading(nsn)
        claimer = int(found.lastgroup[1:]) if found and found.lastgroup else len(matchers)
        for index in self.by_type:
            if index > claimer:
                break
            matcher = matchers[index]
            if matcher is not None and matcher(nsn) is not None:
                return index  # claimed by its type, before any leading-digits region
        return claimer if claimer < len(matchers) else None

    def region(self, nsn: str) -> str | None:
        """The region of +code `nsn` as `region_code_for_number` names it."""
        if len(self.regions) == 1:
            return self.regions[0]
        claimer = self.claimer(nsn, self.for_length(len(nsn)))
        return None if claimer is None else self.regions[claimer]


class _Nanp(_Country):
    """Country code 1, plus what the national fast path needs."""

    def __init__(self) -> None:
        super().__init__(1)
        # Default regions whose parsing of national digit strings is exactly US parsing:
        # international prefix 011, national prefix 1 without a transform rule. (Most
        # Caribbean regions turn 7-digit local numbers into 10 digits: they use phonenumbers.)
        self.fast_regions: frozenset[str] = frozenset(
            region
            for region, m in zip(self.regions, self.metadata, strict=True)
            if m.international_prefix == "011"
            and m.national_prefix == "1"
            and m.national_prefix_for_parsing == "1"
            and m.national_prefix_transform_rule is None
        )
        # Shortcut for 10 digits starting with 2-9: when the first region (US) has no
        # leading_digits it claims a number exactly when one of its types matches, so such a
        # match is a valid number; its general description is then implied by the first digit.
        us = self.metadata[0]
        general = _desc_pattern(us.general_desc, 10)
        types = _types_pattern(us, 10)
        first10: _Match = lambda _nsn: None  # noqa: E731
        valid4: frozenset[str] = frozenset()
        if self.by_type[:1] == [0] and general is not None and types is not None:
            if general in _TRIVIAL_NANP_GENERAL:
                first10 = re.compile(types).fullmatch
                # 4-digit prefixes (area code + first exchange digit) after which every 10-digit
                # number is valid: a set lookup settles most numbers without the regex.
                valid4 = frozenset(
                    p for p in _always_matching_prefixes(types, 10, 4) if p[0] not in "01"
                )
            else:
                first10 = re.compile(f"(?=(?:{general})\\Z)(?:{types})").fullmatch
        self.first10 = first10
        self.valid4 = valid4

    def valid(self, nsn: str) -> bool:
        """Exactly `is_valid_number` for +1 `nsn` (`nsn`: national ASCII digits)."""
        if self._first_claims(nsn):
            return True
        return super().valid(nsn)

    def region(self, nsn: str) -> str | None:
        """The region of +1 `nsn` as `region_code_for_number` names it."""
        if self._first_claims(nsn):
            return self.regions[0]
        return super().region(nsn)

    def _first_claims(self, nsn: str) -> bool:
        """Whether the shortcut says the first region (US) claims +1 `nsn`, a valid number."""
        common = len(nsn) == 10 and nsn[0] > "1"
        return common and (nsn[:4] in self.valid4 or self.first10(nsn) is not None)


_NANP: _Nanp | None = None
_COUNTRIES: dict[int, _Country | None] = {}
_NON_GEOGRAPHIC = "001"


def _nanp() -> _Nanp:
    global _NANP
    if _NANP is None:
        _NANP = _Nanp()
    return _NANP


def _country(code: int) -> _Country | None:
    """The compiled metadata of a country code; None for non-geographic codes (+800, ...)."""
    if code == 1:
        return _NANP or _nanp()
    if code not in _COUNTRIES:
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]
        _COUNTRIES[code] = None if _NON_GEOGRAPHIC in regions else _Country(code)
    return _COUNTRIES[code]


def region_of(e164: str) -> str | None:
    """The region (ISO 3166 country code) of a valid E.164 number, as phonenumbers'
    `region_code_for_number` names it: '+13055550134' -> 'US', '+17875550134' -> 'PR',
    '+442079460958' -> 'GB'; None for numbers of no country (+800, +882, ...)."""
    digits = str(to_key(e164))
    for size in (1, 2, 3):  # country calling codes are a prefix code
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        raise InvalidNumber(e164, "unknown country calling code")
    country = _country(code)
    return None if country is None else country.region(digits[size:])


def _nanp_valid(nsn: str) -> bool:
    """Whether phonenumbers calls +1 `nsn` valid (mirrored, no parsing)."""
    return (_NANP or _nanp()).valid(nsn)


# ---------------------------------------------------------------------------------------------
# Fast path
# ---------------------------------------------------------------------------------------------

# Separators the fast path drops; anything else (letters, x, #, tabs, ...) goes the slow way.
_STRIP = str.maketrans("", "", " ()-./")
_SEPARATORS = b" ()-./"  # the same, for bytes.translate


def _fast_nsn(digits: str) -> str | None:
    """The national number phonenumbers would read from `digits`, or None when not sure.

    `digits` is the ASCII input without separators: only digits, or '+' then digits.
    Mirrors phonenumbers.parse for a default region in the fast set (US, CA, DO, JM, PR):
    a string that starts with 2-9 is taken whole (no country code, no national prefix);
    1 + 10 digits loses the country code; '+1' is dropped unless a national prefix follows.
    """
    first = digits[:1]
    if first > "1":
        return digits
    if first == "1":
        if len(digits) == 11:
            # The country code goes (the number is too long with it). A national prefix 1 after
            # it would leave 9 digits: never valid, so the 10 digits are reported as they are.
            return digits[1:]
        # 10 digits starting with 1: phonenumbers keeps all 10 (neither the country code nor the
        # national prefix may be stripped to leave 9 digits), so the area code starts with 1.
        return digits if len(digits) == 10 else None
    if first == "+":
        if len(digits) < 3 or digits[1] != "1":
            return None
        if digits[2] != "1":
            return digits[2:]
        # '+1 1...': parse strips the national prefix 1 only when 10+ digits remain after it.
        return digits[2:] if len(digits) < 13 else None
    if first == "0":
        if len(digits) == 13 and digits.startswith("001"):
            return digits[3:]  # deliberate: 001 is the international prefix used abroad
        if len(digits) == 10 and not digits.startswith("011"):
            return digits  # leading zero kept by phonenumbers: never valid
    return None


def _fast_e164(digits: str) -> str | None:
    """E.164 for a North American digit string, when the fast path is sure it is valid."""
    nsn = _fast_nsn(digits)
    if nsn is not None and (_NANP or _nanp()).valid(nsn):
        return "+1" + nsn
    return None


def _fast_international(digits: str) -> str | None:
    """E.164 for '+' and digits of another country code, when sure phonenumbers calls it valid.

    Mirrors parse for '+' input: the country code is the shortest known 1-3 digit prefix; the
    national number must be 2-17 digits, not start with 0 (leading zeros) and not start with
    the national prefix (parse would try to strip it): otherwise phonenumbers decides.
    """
    rest = digits[1:]
    if len(rest) < 3 or rest[0] == "0":
        return None
    for size in (1, 2, 3):
        code = int(rest[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = rest[size:]
    if code == 1 or not 2 <= len(national) <= 17 or national[0] == "0":
        return None
    country = _country(code)
    if country is None or (country.prefix is not None and country.prefix(national) is not None):
        return None
    return digits if country.valid(national) else None


def _nanp_reason(nsn: str, label: str) -> str:
    """Why +1 `nsn` is not a valid number (it is known to be invalid)."""
    count = len(nsn)
    if count < 10:
        return f"too short: {count} digit{'s' if count != 1 else ''}, a {label} number has 10"
    if count > 10:
        return f"too long: {count} digits, a {label} number has 10"
    npa, nxx = nsn[:3], nsn[3:6]
    if npa[0] in "01":
        return f"area code {npa} cannot start with 0 or 1"
    if nxx[0] in "01":
        return f"exchange {nxx} cannot start with 0 or 1"
    if npa[1:] == "11":
        return f"area code {npa} is an N11 service code, not an area code"
    if not _npa_in_service(npa):
        return f"area code {npa} is not in service: not a valid number per the numbering plan"
    return f"{npa}-{nxx} is not a valid number per the numbering plan (exchange not in service)"


@lru_cache(maxsize=1024)
def _npa_in_service(npa: str) -> bool:
    """Whether any exchange of this area code has valid numbers (a probe, for messages only)."""
    if any(prefix.startswith(npa) for prefix in (_NANP or _nanp()).valid4):
        return True
    return any(_nanp_valid(f"{npa}{nxx}0134") for nxx in range(200, 1000))


# ---------------------------------------------------------------------------------------------
# Slow path
# ---------------------------------------------------------------------------------------------

_DIGIT = re.compile(r"\d").search
_ASCII_SPACES = str.maketrans("\t\n\r\v\f", "     ")
# Longer than any way of writing a number (leads keep at most 100 characters of it): refused
# before any regex runs, and never echoed whole.
MAX_INPUT_LENGTH = 100
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]").search  # all but \t \n \v \f \r
# Make a number display otherwise than it is: '\u202e0127' shows as '7210'.
_OVERRIDES = frozenset("\u202d\u202e")
# What a number is written with: digits and the punctuation between them.
_SEPARATORS_TEXT = "()[]-./ "
_NUMBER_BODY = re.compile(r"[\d()\[\]\-./ ]*")
_LAST_DIGIT = re.compile(r"\d(?=\D*\Z)")
# What may follow as vanity letters (1-800-GOT-JUNK, 1-877-KARS-4-KIDS).
_VANITY = re.compile(r"[A-Za-z0-9\-. ]*")
_LETTER = re.compile(r"[A-Za-z]").search
# A single O, I or l beside digits is a mistyped 0 or 1, not a word spelled on the keypad.
_LOOKALIKE = re.compile(r"(?<![A-Za-z])[OoIl](?![A-Za-z])").search
_TEL = "tel:"
_EXCEL_INTEGER = re.compile(r"(\+?\d+)\.0+")
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d*)?\s*[eE]\s*[+-]?\d+")
_EXTENSION = re.compile(
    r"""\s*[,;]?\s*
    (?<![A-Za-z])(?:ext(?:ension|n)?\.?\s*[:=#]?|x\.?|\#)\s*
    (?P<ext>\d{1,10})\#?\s*\Z""",
    re.IGNORECASE | re.VERBOSE,
)


@lru_cache(maxsize=4096)
def _ascii_char(char: str) -> str:
    """One non-ASCII character mapped for parsing: digits to 0-9, spaces to ' ', dashes to '-'."""
    decimal = unicodedata.decimal(char, None)
    if decimal is not None:
        return str(decimal)
    category = unicodedata.category(char)
    if category in ("Zs", "Zl", "Zp", "Cf"):
        return " "  # NBSP, thin space, ideographic space, zero-width space, soft hyphen, ...
    if category == "Pd" or char in "\u2212\u2053\u223c\uff5e":
        return "-"
    return unicodedata.normalize("NFKC", char)


def _check_characters(text: str) -> None:
    """Refuse what no way of writing a number holds: control characters, display overrides,
    digits of several scripts (a Bengali 4 looks like an 8), excessive length."""
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidNumber(
            f"{text[:20]}...",
            f"too long: {len(text):,} characters, a phone number has at most {MAX_INPUT_LENGTH}",
        )
    control = _ASCII_CONTROL(text)
    if control:
        raise InvalidNumber(text, f"a control character (U+{ord(control.group()):04X})")
    if text.isascii():
        return
    scripts = set()
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc":
            raise InvalidNumber(text, f"a control character (U+{ord(char):04X})")
        if char in _OVERRIDES:
            raise InvalidNumber(
                text,
                f"a right-to-left override (U+{ord(char):04X}): the number displays "
                "otherwise than it is",
            )
        if category == "Nd":
            scripts.add(_digit_script(char))
    if len(scripts) > 1:
        raise InvalidNumber(text, f"digits of two scripts ({', '.join(sorted(scripts))})")


def _digit_script(char: str) -> str:
    """'٣' -> 'ARABIC-INDIC'; ASCII and full-width digits look alike: both 'ASCII'."""
    script = unicodedata.name(char, "").rpartition("DIGIT")[0].strip()
    return "ASCII" if script in ("", "FULLWIDTH") else script


def _check_shape(text: str, shown: str, region: str) -> None:
    """Refuse anything but the number around its digits (`text`: canonical, extension cut).

    Letters count as keypad letters only where they end a number that is nothing but a
    number (1-800-FLOWERS): never before the digits, nor after a number already complete.
    """
    first = _DIGIT(text)
    if first is None:  # the digits were all the extension's
        raise InvalidNumber(shown, "no number before the extension")
    head = text[: first.start()]
    if head.strip(_SEPARATORS_TEXT) not in ("", "+"):
        raise InvalidNumber(shown, f"text before the number: {head.strip()!r}")
    body_end = _NUMBER_BODY.match(text, first.start()).end()
    if body_end == len(text):
        return
    number_end = _LAST_DIGIT.search(text, 0, body_end).end()
    after = text[number_end:].strip()
    if _is_number(text[:number_end], region):
        raise InvalidNumber(shown, f"text after the number: {after!r}")
    lookalike = _LOOKALIKE(text, body_end)
    if lookalike:
        letter = lookalike.group()
        raise InvalidNumber(
            shown,
            f"a lone letter {letter!r} among digits: a mistyped {'0' if letter in 'Oo' else '1'}? "
            "(vanity letters spell words: 1-800-FLOWERS)",
        )
    if not text[body_end].isalpha():
        raise InvalidNumber(shown, _stray_reason(text[body_end]))
    vanity_end = _VANITY.match(text, body_end).end()
    if vanity_end < len(text):
        raise InvalidNumber(shown, _stray_reason(text[vanity_end]))
    if sum(char.isdigit() for char in text[:body_end]) < 3:
        raise InvalidNumber(shown, "vanity letters follow the area code (1-800-FLOWERS)")


def _is_number(text: str, region: str) -> bool:
    try:
        normalize(text, region)
    except InvalidNumber:
        return False
    return True


def _stray_reason(char: str) -> str:
    if char == "+":
        return "'+' may only start the number"
    if char.isalpha():
        return f"{char!r} ({unicodedata.name(char, 'a letter')}) is not a keypad letter (A-Z)"
    return f"{char!r} is not part of a phone number"


def _canonical(text: str) -> str:
    if not text.isascii():
        text = "".join(char if char.isascii() else _ascii_char(char) for char in text)
    return text.translate(_ASCII_SPACES).strip()


def _coerce(value: object) -> str:
    """The text to parse for a non-str input (spreadsheet cells arrive as int or float)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        raise InvalidNumber(str(value), "not a phone number: a true/false value")
    if isinstance(value, numbers.Integral):
        if value < 0:
            raise InvalidNumber(str(value), "not a phone number: negative")
        return str(int(value))
    if isinstance(value, numbers.Real | Decimal):
        number = float(value)
        if not math.isfinite(number) or number < 0:
            raise InvalidNumber(str(value), "not a phone number")
        if not number.is_integer() or number >= 2**53:
            raise InvalidNumber(
                str(value),
                "not a whole number: digits may have been lost in a spreadsheet "
                "(format the column as text)",
            )
        return str(int(number))
    raise InvalidNumber(repr(value)[:60], f"not a phone number: a {type(value).__name__}")


def _region_label(region: str) -> str:
    """How reasons name the default region: 'a US number has 10 digits'."""
    return region if region in (_NANP or _nanp()).regions else "North American"


def _parse_error_reason(error: NumberParseException, text: str) -> str:
    count = sum(char.isalnum() for char in text)  # vanity letters are digits
    kind = error.error_type
    if kind == NumberParseException.INVALID_COUNTRY_CODE:
        return "unknown country calling code" if "+" in text else "not a phone number"
    if kind in (NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD):
        return f"too short: {count} digits"
    if kind == NumberParseException.TOO_LONG:
        return f"too long: {count} digits"
    return "not a phone number"


def _invalid_reason(number: phonenumbers.PhoneNumber, label: str) -> str:
    code = number.country_code
    nsn = phonenumbers.national_significant_number(number)
    if code == 1:
        return _nanp_reason(nsn, label)
    where = phonenumbers.region_code_for_country_code(code)
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == phonenumbers.ValidationResult.TOO_SHORT:
        return f"too short: {len(nsn)} digits is not a valid number for region {where} (+{code})"
    if possible == phonenumbers.ValidationResult.TOO_LONG:
        return f"too long: {len(nsn)} digits is not a valid number for region {where} (+{code})"
    return f"not a valid number for region {where} (+{code})"


def _normalize_slow(value: object, region: str) -> PhoneNumber:
    """Everything the fast path in `normalize` did not settle."""
    if isinstance(value, str):
        _check_characters(value)
        shown = text = value
    else:
        text = _coerce(value)
        shown = "" if value is None else str(value)
    text = _canonical(text)
    if text[:4].lower() == _TEL:  # RFC 3966
        text = text[4:].lstrip()
    if text[:1] == "'":  # a spreadsheet's mark for a cell kept as text ('+1 305 ...)
        text = text[1:].lstrip()
    if not text:
        raise InvalidNumber("", "empty")
    region = region.upper() if isinstance(region, str) else region
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown region {region!r}")
    if _DIGIT(text) is None:
        raise InvalidNumber(shown, "no digits")
    if _SCIENTIFIC.fullmatch(text):
        raise InvalidNumber(
            shown,
            "scientific notation: digits may have been lost in a spreadsheet "
            "(format the column as text)",
        )
    excel = _EXCEL_INTEGER.fullmatch(text)
    if excel:
        text = excel.group(1)
    extension = None
    found = _EXTENSION.search(text)
    if found and found.start() > 0:
        extension = found.group("ext")
        text = text[: found.start()].rstrip(" ,;")
    _check_shape(text, shown, region)

    nanp = _NANP or _nanp()
    if region in nanp.fast_regions and text.isascii():
        digits = text.translate(_STRIP)
        if digits.isdigit() or (digits[:1] == "+" and digits[1:].isdigit()):
            nsn = _fast_nsn(digits)
            if nsn is not None:
                if nanp.valid(nsn):
                    return _make("+1" + nsn, extension)
                raise InvalidNumber(shown, _nanp_reason(nsn, region))
            if digits[0] == "+":
                e164 = _fast_international(digits)
                if e164 is not None:
                    return _make(e164, extension)

    keypad = " (letters read as keypad digits)" if _LETTER(text) else ""
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as error:
        raise InvalidNumber(shown, _parse_error_reason(error, text) + keypad) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber(shown, _invalid_reason(number, _region_label(region)) + keypad)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return _make(e164, extension or number.extension or None)


def normalize(value: object, region: str = "US") -> PhoneNumber:
    """Normalize a phone number (str, int or float) to E.164, or raise InvalidNumber saying why.

    `region` is the default region for numbers written without a country code. None, empty
    and blank values raise ``InvalidNumber('', 'empty')``.
    """
    nanp = _NANP or _nanp()
    if region not in nanp.fast_regions:
        return _normalize_slow(value, region)
    if type(value) is str and value.isascii():
        # bytes.translate deletes through a 256-byte table: about 3x faster than str.translate
        digits = value.encode().translate(None, _SEPARATORS).decode()
        shown = value
    elif type(value) is int and value > 0:  # spreadsheet cells
        digits = shown = str(value)
    elif type(value) is float and value.is_integer() and 0 < value < 2**53:
        digits, shown = str(int(value)), str(value)
    else:
        return _normalize_slow(value, region)
    # The common shapes inline: NXXNXXXXXX, 1NXXNXXXXXX, +1NXXNXXXXXX (N = 2-9).
    size = len(digits)
    if size == 10:
        nsn = digits
    elif size == 11 and digits[0] == "1":
        nsn = digits[1:]
    elif size == 12 and digits[:2] == "+1":
        nsn = digits[2:]
    else:
        nsn = ""
    if (nsn[:4] in nanp.valid4 and nsn.isdigit()) or (
        nsn[:1] > "1" and nsn.isdigit() and nanp.first10(nsn) is not None
    ):
        number = _new(PhoneNumber)  # _make, inline
        _set_e164(number, "+1" + nsn)
        _set_extension(number, None)
        return number
    if len(shown) > MAX_INPUT_LENGTH:
        return _normalize_slow(value, region)
    # Every other digit string the fast path can settle.
    if digits.isdigit() or (digits[:2] == "+1" and digits[2:].isdigit()):
        nsn = _fast_nsn(digits)
        if nsn is not None:
            if nanp.valid(nsn):
                return _make("+1" + nsn, None)
            if "." not in shown or _EXCEL_INTEGER.fullmatch(shown.strip()) is None:
                raise InvalidNumber(shown, _nanp_reason(nsn, region))
    elif digits[:1] == "+" and digits[1:].isdigit():
        e164 = _fast_international(digits)
        if e164 is not None:
            return _make(e164, None)
    return _normalize_slow(value, region)
