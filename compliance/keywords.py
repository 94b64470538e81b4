"""Inbound texts: does a reply opt out, opt out in other words, opt back in, or ask for help?

Pure functions over plain data. The words live in `config/keywords.toml` ([class.*] and
[negation]), loaded once into a `KeywordBook`; `classify` judges one message:

* the body is normalized (NFKC, casefold, apostrophes dropped, other punctuation, symbols and
  emoji turned into spaces, spaces collapsed, a space where Latin letters meet another script),
  and a keyword of several words is joined into one ("opt out", "opt-out", "optout" alike);
* a body that is exactly one keyword is that keyword's class (opt_out, opt_in, help);
* an opt_out keyword or a revocation phrase anywhere else makes it a presumed opt-out (F-03:
  a rebuttable presumption), unless a negation comes right before it ("don't stop"): then it
  is `other`, flagged for review; `other` is the rest;
* the carrier's own verdict (`OptOutType`) wins, except that an opt-out is never read as help.

The work is bounded: only the first LONGEST_BODY characters are read (and kept once
normalized), and a longer body is flagged for review.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from compliance.hours import CONFIG_DIR, STATUSES, only_keys, toml_table
from compliance.wording import toml_value

__all__ = [
    "DEFAULT_KEYWORDS_PATH",
    "LONGEST_BODY",
    "Classification",
    "KeywordBook",
    "MessageClass",
    "classify",
    "load_keywords",
    "parse_keywords",
]

DEFAULT_KEYWORDS_PATH = CONFIG_DIR / "keywords.toml"
# Twilio delivers at most 1,600 characters (10 segments) per inbound message.
LONGEST_BODY = 1600
# Dropped, not spaced: "don't" reads as the one word "dont".
APOSTROPHES = frozenset("'\u2018\u2019\u02bc\u0060\u00b4")
# Emoji presentation selectors: "🛑" and "🛑\ufe0f" are the same sign.
VARIATION_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


class MessageClass(StrEnum):
    OPT_OUT = "opt_out"
    OPT_OUT_PRESUMED = "opt_out_presumed"
    OPT_IN = "opt_in"
    HELP = "help"
    OTHER = "other"


OPT_OUTS = frozenset({MessageClass.OPT_OUT, MessageClass.OPT_OUT_PRESUMED})
# The classes whose keywords must be the whole message.
EXACT_CLASSES = (MessageClass.OPT_OUT, MessageClass.OPT_IN, MessageClass.HELP)
# Twilio's OptOutType values: the carrier's own keyword handling has decided.
CARRIER_CLASSES = {
    "stop": MessageClass.OPT_OUT,
    "start": MessageClass.OPT_IN,
    "help": MessageClass.HELP,
}

Words = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Classification:
    """What one inbound message is.

    `keyword` is the keyword, phrase or symbol that decided it, as the rule data writes it
    (None when nothing matched, or only the carrier's OptOutType did). `review` asks for a
    person whatever the class does: a negated opt-out ("don't stop"), a body too long to read
    whole, a carrier verdict that contradicts the words or is unknown. `normalized` is the
    body as compared.
    """

    kind: MessageClass
    review: bool = False
    keyword: str | None = None
    normalized: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class KeywordBook:
    """The loaded words, normalized.

    `exact`: a whole message -> its class and the keyword as written; `revocations`: word
    runs that presume an opt-out anywhere in a message (the opt_out keywords and the
    phrases); `joins`: keywords of several words -> the one word they are compared as.
    """

    exact: Mapping[str, tuple[MessageClass, str]]
    revocations: Mapping[Words, str]
    symbols: tuple[str, ...]
    negations: frozenset[Words]
    joins: Mapping[Words, str]
    version: str = ""


# --- classifying -------------------------------------------------------------------------------


def classify(
    body: str, opt_out_type: str | None = None, *, keywords: KeywordBook | None = None
) -> Classification:
    """Classify an inbound text `body`, with the carrier's `OptOutType` when it sent one.

    `keywords` defaults to the shipped `config/keywords.toml`.
    """
    book = keywords or _shipped_keywords()
    return _with_carrier(_by_words(body, book), opt_out_type)


def _by_words(body: str, book: KeywordBook) -> Classification:
    folded = _folded(body[:LONGEST_BODY])
    longer = len(body) > LONGEST_BODY or len(folded) > LONGEST_BODY
    text = folded[:LONGEST_BODY]  # NFKC can lengthen a text (a ligature, "㍿")
    words = _words(text, book.joins)
    normalized = " ".join(words)
    if normalized in book.exact:
        kind, keyword = book.exact[normalized]
        return Classification(kind, longer, keyword, normalized)
    hits = list(_revocations(words, book))
    plain = [keyword for keyword, negated in hits if not negated]
    plain += [symbol for symbol in book.symbols if symbol in text]
    if plain:
        return Classification(MessageClass.OPT_OUT_PRESUMED, longer, plain[0], normalized)
    if hits:  # only negated ones
        return Classification(MessageClass.OTHER, True, hits[0][0], normalized)
    return Classification(MessageClass.OTHER, longer, None, normalized)


def _with_carrier(read: Classification, opt_out_type: str | None) -> Classification:
    verdict = (opt_out_type or "").strip().casefold()
    if not verdict:
        return read
    carrier = CARRIER_CLASSES.get(verdict)
    if carrier is None:  # a value Twilio does not document: a person looks
        return replace(read, review=True)
    if read.kind is carrier or (carrier is MessageClass.HELP and read.kind in OPT_OUTS):
        return read  # an opt-out is never ignored
    keyword = read.keyword if carrier is MessageClass.OPT_OUT and read.kind in OPT_OUTS else None
    # START against words that opt out: the carrier has re-subscribed, a person checks.
    review = read.review or (carrier is MessageClass.OPT_IN and read.kind in OPT_OUTS)
    return Classification(carrier, review, keyword, read.normalized)


def _revocations(words: Words, book: KeywordBook) -> Iterator[tuple[str, bool]]:
    """Each revocation run in `words` (the longest at each word), and whether it is negated."""
    lengths = sorted({len(run) for run in book.revocations}, reverse=True)
    for start in range(len(words)):
        for length in lengths:
            keyword = book.revocations.get(words[start : start + length])
            if keyword is not None:
                yield keyword, _negated(words, start, book.negations)
                break


def _negated(words: Words, start: int, negations: frozenset[Words]) -> bool:
    return any(words[max(0, start - len(run)) : start] == run for run in negations)


# --- normalizing -------------------------------------------------------------------------------


def _folded(text: str) -> str:
    """NFKC, casefold, NFKC again (casefolding can undo the first: Unicode's NFKC_Casefold)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return VARIATION_SELECTORS.sub("", folded)


def _words(folded: str, joins: Mapping[Words, str]) -> Words:
    """The words of a folded text, with each keyword of several words joined into one."""
    words = "".join(_spaced(folded)).split()
    if not joins:
        return tuple(words)
    lengths = sorted({len(run) for run in joins}, reverse=True)
    joined: list[str] = []
    index = 0
    while index < len(words):
        run = next(
            (r for n in lengths if (r := tuple(words[index : index + n])) in joins),
            None,
        )
        joined.append(joins[run] if run else words[index])
        index += len(run) if run else 1
    return tuple(joined)


def _spaced(folded: str) -> Iterator[str]:
    """Letters, digits and marks kept; apostrophes and enclosing marks (a keycap) dropped;
    anything else a space; a space where Latin letters meet another script (Chinese and
    Japanese put no space before a Latin word)."""
    latin: bool | None = None
    for char in folded:
        category = unicodedata.category(char)
        if char in APOSTROPHES or category == "Me":
            continue
        if category[0] not in "LNM":
            latin = None
            yield " "
            continue
        if category[0] == "L":
            script = _latin(char)
            if latin is not None and script != latin:
                yield " "
            latin = script
        yield char


@lru_cache(maxsize=4096)
def _latin(letter: str) -> bool:
    return letter.isascii() or unicodedata.name(letter, "").startswith("LATIN")


# --- loading and checking the data -------------------------------------------------------------

_COMMON_KEYS = frozenset({"source", "status", "note"})
_CLASS_KEYS = {
    MessageClass.OPT_OUT: _COMMON_KEYS | {"keywords"},
    MessageClass.OPT_IN: _COMMON_KEYS | {"keywords"},
    MessageClass.HELP: _COMMON_KEYS | {"keywords"},
    MessageClass.OPT_OUT_PRESUMED: _COMMON_KEYS | {"phrases", "symbols"},
}


def load_keywords(path: Path | None = None) -> KeywordBook:
    """Read and check the classifier's words (default: the repository's config/keywords.toml).

    Bad data raises ValueError naming the table and the field. The [action.*] tables are
    campaigns.keywords' to check.
    """
    path = path or DEFAULT_KEYWORDS_PATH
    try:
        with path.open("rb") as file:
            return parse_keywords(tomllib.load(file))
    except ValueError as error:  # TOML syntax errors are ValueErrors too
        raise ValueError(f"{path.name}: {error}") from None


@lru_cache(maxsize=1)
def _shipped_keywords() -> KeywordBook:
    return load_keywords()


def parse_keywords(data: Mapping[str, Any]) -> KeywordBook:
    """Build a KeywordBook from parsed TOML (a dict), checking every table."""
    only_keys(data, {"version", "class", "negation", "action"}, "top level")
    classes = toml_table(data.get("class"), "class")
    only_keys(classes, set(_CLASS_KEYS), "class")
    tables = {}
    for kind, keys in _CLASS_KEYS.items():
        where = f"class.{kind}"
        if kind not in classes:
            raise ValueError(f"{where}: required (a [{where}] table)")
        tables[kind] = _checked(classes[kind], keys, where)
    exact_lists = {
        kind: _texts(tables[kind], "keywords", f"class.{kind}", required=True)
        for kind in EXACT_CLASSES
    }
    joins = {
        run: "".join(run)
        for written in (text for texts in exact_lists.values() for text in texts)
        if len(run := _words(_folded(written), {})) > 1
    }
    exact: dict[str, tuple[MessageClass, str]] = {}
    for kind, texts in exact_lists.items():
        for n, written in enumerate(texts, 1):
            word = " ".join(_phrase(written, joins, f"class.{kind}, keywords #{n}"))
            if word in exact:
                raise ValueError(
                    f"class.{kind}, keywords #{n}: {toml_value(written)} is the same keyword as "
                    f"{toml_value(exact[word][1])} ({exact[word][0]})"
                )
            exact[word] = (kind, written)
    presumed = tables[MessageClass.OPT_OUT_PRESUMED]
    return KeywordBook(
        exact=exact,
        revocations=_revocation_runs(exact, presumed, joins),
        symbols=_symbols(presumed, joins),
        negations=_negations(data.get("negation", {}), joins),
        joins=joins,
        version=str(data.get("version", "")),
    )


def _checked(table: Any, keys: frozenset[str], where: str) -> Mapping[str, Any]:
    """A class or negation table: only `keys`, a source, a known status tag."""
    only_keys(toml_table(table, where), keys, where)
    source = table.get("source")
    if not (isinstance(source, str) and source.strip()):
        raise ValueError(f"{where}, source: where the words come from is required")
    status = table.get("status")
    if status is not None and status not in STATUSES:
        raise ValueError(
            f"{where}, status: {toml_value(status)} is not one of {', '.join(sorted(STATUSES))}"
        )
    return table


def _texts(table: Mapping[str, Any], field: str, where: str, required: bool = False) -> list[str]:
    values = table.get(field, [])
    if not (isinstance(values, list) and all(isinstance(v, str) and v.strip() for v in values)):
        raise ValueError(f"{where}, {field}: must list text in quotes, got {toml_value(values)}")
    if required and not values:
        raise ValueError(f"{where}, {field}: at least one is required")
    return [value.strip() for value in values]


def _phrase(written: str, joins: Mapping[Words, str], where: str) -> Words:
    words = _words(_folded(written), joins)
    if not words:
        raise ValueError(f"{where}: {toml_value(written)} has no letters or digits")
    return words


def _revocation_runs(
    exact: Mapping[str, tuple[MessageClass, str]],
    presumed: Mapping[str, Any],
    joins: Mapping[Words, str],
) -> dict[Words, str]:
    """The opt_out keywords, then the phrases: both presume a revocation inside a message."""
    runs = {(word,): written for word, (kind, written) in exact.items() if kind in OPT_OUTS}
    where = f"class.{MessageClass.OPT_OUT_PRESUMED}"
    for n, written in enumerate(_texts(presumed, "phrases", where), 1):
        run = _phrase(written, joins, f"{where}, phrases #{n}")
        if run in runs:
            raise ValueError(
                f"{where}, phrases #{n}: {toml_value(written)} is already listed "
                f"(as {toml_value(runs[run])})"
            )
        runs[run] = written
    return runs


def _symbols(presumed: Mapping[str, Any], joins: Mapping[Words, str]) -> tuple[str, ...]:
    where = f"class.{MessageClass.OPT_OUT_PRESUMED}"
    symbols = _texts(presumed, "symbols", where)
    for n, symbol in enumerate(symbols, 1):
        if _words(_folded(symbol), joins):
            raise ValueError(
                f"{where}, symbols #{n}: {toml_value(symbol)} has letters or digits; "
                "list words in phrases"
            )
    return tuple(_folded(symbol) for symbol in symbols)


def _negations(table: Any, joins: Mapping[Words, str]) -> frozenset[Words]:
    if table == {}:
        return frozenset()
    _checked(table, _COMMON_KEYS | {"words"}, "negation")
    words = _texts(table, "words", "negation")
    return frozenset(
        _phrase(written, joins, f"negation, words #{n}") for n, written in enumerate(words, 1)
    )
