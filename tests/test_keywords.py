"""Inbound texts: the classifier (compliance.keywords) and what each class does
(campaigns.keywords), both from config/keywords.toml.

Vectors from the reference (compliance-rules.md M-01, F-03) and our own.
"""

from __future__ import annotations

import copy
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.keywords import (
    SOURCE,
    KeywordAction,
    load_keyword_actions,
    parse_keyword_actions,
)
from campaigns.statuses import Action, ActionKind, InvalidDefinition
from compliance import Classification, MessageClass, classify, load_keywords
from compliance.dnc import Source
from compliance.keywords import DEFAULT_KEYWORDS_PATH, LONGEST_BODY, parse_keywords

OPT_OUT, PRESUMED = MessageClass.OPT_OUT, MessageClass.OPT_OUT_PRESUMED
OPT_IN, HELP, OTHER = MessageClass.OPT_IN, MessageClass.HELP, MessageClass.OTHER
SHIPPED = tomllib.loads(DEFAULT_KEYWORDS_PATH.read_text(encoding="utf-8"))
SYMBOLS = load_keywords().symbols


def shipped_with(**changes: object) -> dict:
    """The shipped data with paths replaced (class__opt_out__keywords=[...]); None deletes."""
    data = copy.deepcopy(SHIPPED)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        table = data
        for key in parents:
            table = table.setdefault(key, {})
        if value is None:
            table.pop(last, None)
        else:
            table[last] = value
    return data


# --- the classifier ----------------------------------------------------------------------------

REFERENCE_VECTORS = [
    # M-01
    ("STOP", OPT_OUT, False),
    (" stop. ", OPT_OUT, False),
    ("Opt-Out", OPT_OUT, False),
    ("REVOKE", OPT_OUT, False),
    ("stop all", OPT_OUT, False),
    ("Stop texting me", PRESUMED, False),
    ("stopwatch", OTHER, False),
    ("don't stop", OTHER, True),
    ("START", OPT_IN, False),
    # F-03: the per-se words, and plain language
    ("Stop", OPT_OUT, False),
    ("quit", OPT_OUT, False),
    ("End", OPT_OUT, False),
    ("opt out", OPT_OUT, False),
    ("Cancel", OPT_OUT, False),
    ("unsubscribe", OPT_OUT, False),
    ("please don't text me anymore", PRESUMED, False),
]

OUR_VECTORS = [
    # normalization: punctuation, emoji, width, case, spaces
    ("Stop!!", OPT_OUT, False),
    ("🛑 STOP", OPT_OUT, False),
    ("🛑\ufe0f STOP 🛑", OPT_OUT, False),
    ("ＳＴＯＰ", OPT_OUT, False),  # full-width
    ("\tSTOP\n", OPT_OUT, False),
    ("s.t.o.p", OTHER, False),
    ("STOPALL", OPT_OUT, False),
    ("stop-all", OPT_OUT, False),
    ("OPTOUT", OPT_OUT, False),
    ("opt   out!", OPT_OUT, False),
    ("UNSUBSCRIBE.", OPT_OUT, False),
    # a keyword inside a longer message, and other words
    ("STOP please", PRESUMED, False),
    ("please stop texting me", PRESUMED, False),
    ("remove me from your list", PRESUMED, False),
    ("Please take me off this list", PRESUMED, False),
    ("do not contact me again", PRESUMED, False),
    ("Don’t text me", PRESUMED, False),  # a typographic apostrophe
    ("stop stop", PRESUMED, False),
    ("wrong number", PRESUMED, False),
    ("I want to opt-out of this", PRESUMED, False),
    ("🛑", PRESUMED, False),
    ("⛔⛔", PRESUMED, False),
    # negations: not a revocation, but a person looks
    ("Don't STOP", OTHER, True),
    ("do not stop", OTHER, True),
    ("never stop!", OTHER, True),
    ("dont stop, stop texting me", PRESUMED, False),  # an opt-out beside it still counts
    ("they won't stop texting me", PRESUMED, False),
    ("No. Stop texting me", PRESUMED, False),
    # opt-in and help
    ("unstop", OPT_IN, False),
    ("Start.", OPT_IN, False),
    ("I want to start", OTHER, False),
    ("HELP", HELP, False),
    ("info", HELP, False),
    ("Info?", HELP, False),
    ("help me", OTHER, False),
    # nothing to read, and other scripts
    ("", OTHER, False),
    ("   ", OTHER, False),
    ("👍", OTHER, False),
    ("Стоп", OTHER, False),
    ("停止", OTHER, False),
    ("请停止STOP", PRESUMED, False),  # no space before a Latin word in Chinese
    ("Merci, STOP", PRESUMED, False),
    ("backstop", OTHER, False),
    ("nonstop", OTHER, False),
]


@pytest.mark.parametrize(("body", "kind", "review"), REFERENCE_VECTORS + OUR_VECTORS)
def test_classify(body, kind, review):
    result = classify(body)

    assert (result.kind, result.review) == (kind, review)


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", "STOP"),
        ("opt-out", "OPT OUT"),
        ("stopall", "STOP ALL"),
        ("STOP please", "STOP"),
        ("remove me from your list", "remove me"),
        ("please don't text me anymore", "dont text"),
        ("don't stop", "STOP"),
        ("🛑", "🛑"),
        ("info", "INFO"),
        ("hello", None),
    ],
)
def test_the_keyword_that_decided_is_named_as_the_data_writes_it(body, keyword):
    assert classify(body).keyword == keyword


@pytest.mark.parametrize(
    ("spellings", "normalized"),
    [
        (["opt out", "opt-out", "optout", "OPT OUT", "Opt–Out!"], "optout"),
        (["stop all", "stopall", "STOP-ALL", "Stop  All."], "stopall"),
        (["don't stop", "Don’t stop", "DONT STOP!"], "dont stop"),
        (["ＳＴＯＰ", " stop. ", "🛑 Stop 🛑"], "stop"),
    ],
)
def test_spellings_that_mean_the_same_normalize_alike(spellings, normalized):
    assert {classify(body).normalized for body in spellings} == {normalized}


@pytest.mark.parametrize(
    ("body", "opt_out_type", "kind", "review"),
    [
        ("anything at all", "STOP", OPT_OUT, False),
        ("ARRET", "STOP", OPT_OUT, False),  # the carrier's own keyword list
        ("", "STOP", OPT_OUT, False),
        ("STOP", "stop", OPT_OUT, False),
        ("hello", "START", OPT_IN, False),
        ("START", "START", OPT_IN, False),
        ("STOP", "START", OPT_IN, True),  # the carrier re-subscribed against the words
        ("HELP", "HELP", HELP, False),
        ("stop texting me", "HELP", PRESUMED, False),  # an opt-out is never read as help
        ("hello", "", OTHER, False),
        ("hello", None, OTHER, False),
        ("hello", "UNKNOWN", OTHER, True),
        ("STOP", "UNKNOWN", OPT_OUT, True),
    ],
)
def test_the_carriers_opt_out_type_decides(body, opt_out_type, kind, review):
    result = classify(body, opt_out_type)

    assert (result.kind, result.review) == (kind, review)


def test_a_carrier_stop_keeps_the_keyword_of_the_words():
    assert classify("Stop!", "STOP").keyword == "STOP"
    assert classify("anything", "STOP").keyword is None


def test_a_long_body_is_read_only_so_far_and_goes_to_review():
    within = "x " * ((LONGEST_BODY - 4) // 2) + "stop"
    beyond = "hello " * 200_000 + "stop"

    assert len(within) <= LONGEST_BODY
    assert classify(within) == Classification(PRESUMED, False, "STOP", within)
    result = classify(beyond)
    assert (result.kind, result.review) == (OTHER, True)
    assert len(result.normalized) <= LONGEST_BODY
    result = classify("STOP " + "hello " * 200_000)
    assert (result.kind, result.review) == (PRESUMED, True)


@given(st.text())
def test_any_text_is_classified_and_its_normalized_form_reads_the_same(body):
    result = classify(body)

    again = classify(result.normalized)
    assert len(result.normalized) <= LONGEST_BODY
    assert again.normalized == result.normalized
    if result.keyword not in SYMBOLS:  # symbols are gone once normalized
        assert again.kind == result.kind


def test_normalizing_can_lengthen_a_body_but_not_the_work():
    result = classify("\ufdfa" * LONGEST_BODY)  # one character, 18 once normalized

    assert (result.kind, result.review) == (OTHER, True)
    assert len(result.normalized) <= LONGEST_BODY


# --- the classifier's data ---------------------------------------------------------------------


def test_the_shipped_words_load():
    book = load_keywords()

    assert book.version
    assert {kind for kind, _ in book.exact.values()} == {OPT_OUT, OPT_IN, HELP}
    fcc_words = ["stop", "quit", "end", "revoke", "optout", "cancel", "unsubscribe"]
    assert all(book.exact[word][0] is OPT_OUT for word in fcc_words)


def test_the_words_are_data():
    data = shipped_with(class__opt_out__keywords=["STOP", "ARRET"])
    data["class"]["opt_out_presumed"]["phrases"] = ["leave me alone"]
    book = parse_keywords(data)

    assert classify("Arrêt", keywords=book).kind == OTHER  # an accent is another letter
    assert classify("ARRET!", keywords=book).kind == OPT_OUT
    assert classify("remove me", keywords=book).kind == OTHER
    assert classify("end", keywords=book).kind == OTHER
    assert classify("please leave me alone", keywords=book).kind == PRESUMED


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"class__opt_out": None}, r"class\.opt_out: required"),
        ({"class__other": {"source": "x"}}, r"class: unknown field\(s\) other"),
        ({"class__opt_out__keywords": []}, r"class\.opt_out, keywords: at least one"),
        ({"class__opt_out__keywords": "STOP"}, r"class\.opt_out, keywords: must list text"),
        ({"class__opt_out__keywords": ["STOP", 5]}, r"class\.opt_out, keywords: .*\['STOP', 5\]"),
        (
            {"class__opt_out__keywords": ["STOP", "!!"]},
            r"class\.opt_out, keywords #2: '!!' has no letters",
        ),
        (
            {"class__opt_out__keywords": ["STOP", "OPT OUT", "optout"]},
            r"class\.opt_out, keywords #3: 'optout' is the same keyword as 'OPT OUT' \(opt_out\)",
        ),
        (
            {"class__help__keywords": ["HELP", "Stop"]},
            r"class\.help, keywords #2: 'Stop' is the same keyword as 'STOP' \(opt_out\)",
        ),
        (
            {"class__opt_out_presumed__phrases": ["remove me", "stop"]},
            r"class\.opt_out_presumed, phrases #2: 'stop' is already listed \(as 'STOP'\)",
        ),
        (
            {"class__opt_out_presumed__symbols": ["🛑", "no"]},
            r"class\.opt_out_presumed, symbols #2: 'no' has letters or digits",
        ),
        ({"class__help__source": None}, r"class\.help, source: .* required"),
        ({"class__help__status": "sure"}, r"class\.help, status: 'sure' is not one of"),
        ({"class__help__words": ["HELP"]}, r"class\.help: unknown field\(s\) words"),
        ({"negation__words": ["dont", ""]}, r"negation, words: must list text"),
        ({"negation__source": None}, r"negation, source"),
        ({"dictionary": {}}, r"top level: unknown field\(s\) dictionary"),
    ],
)
def test_bad_words_are_refused_naming_the_field(changes, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        parse_keywords(shipped_with(**changes))


BAD_FILE = """
[class.opt_out]
source = "x"
keywords = ["STOP", "END"]

[class.opt_in]
source = "x"
keywords = ["START"]

[class.help]
source = "x"
keywords = ["HELP", "end"]

[class.opt_out_presumed]
source = "x"

[action.opt_out]
actions = ["company_dnc"]

[action.opt_out_presumed]
actions = ["lead_status:opted_out"]

[action.opt_in]

[action.help]
"""


def test_a_bad_file_is_refused_naming_the_file_and_the_field(tmp_path):
    path = tmp_path / "keywords.toml"
    path.write_text(BAD_FILE)

    with pytest.raises(
        ValueError, match=r"^keywords.toml: class\.help, keywords #2: 'end' is the same keyword"
    ):
        load_keywords(path)
    with pytest.raises(
        InvalidDefinition,
        match=r"^keywords.toml: action\.opt_out_presumed, actions: an opt-out must add",
    ):
        load_keyword_actions(path)


def test_a_file_that_is_not_toml_is_refused_naming_it(tmp_path):
    path = tmp_path / "keywords.toml"
    path.write_text("[class.opt_out\n")

    with pytest.raises(ValueError, match=r"^keywords\.toml: "):
        load_keywords(path)
    with pytest.raises(InvalidDefinition, match=r"^keywords\.toml: "):
        load_keyword_actions(path)


# --- what each class does ----------------------------------------------------------------------


def test_the_shipped_actions_load():
    actions = load_keyword_actions()

    dnc, dnt = Action(ActionKind.COMPANY_DNC), Action(ActionKind.COMPANY_DNT)
    assert actions == {
        OPT_OUT: KeywordAction(actions=(dnc,), reply=True),
        PRESUMED: KeywordAction(actions=(dnc,), reply=True, review=True),
        OPT_IN: KeywordAction(removes=(dnc, dnt), reply=True),
        HELP: KeywordAction(reply=True),
        OTHER: KeywordAction(),
    }
    assert SOURCE is Source.SMS_KEYWORD


def test_an_opt_out_may_be_narrowed_to_the_do_not_text_list():
    data = shipped_with(action__opt_out__actions=["company_dnt", "lead_dnc:sms"])

    actions = parse_keyword_actions(data)[OPT_OUT]

    assert actions.actions == (
        Action(ActionKind.COMPANY_DNT),
        Action(ActionKind.LEAD_DNC, "sms"),
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"action": None}, r"action: expected a table, got nothing"),
        ({"action__help": None}, r"action\.help: required"),
        ({"action__spam": {}}, r"action: unknown field\(s\) spam"),
        (
            {"action__opt_out__actions": []},
            r"action\.opt_out, actions: an opt-out must add to a company list",
        ),
        (
            {"action__opt_out_presumed__actions": ["lead_dnc:sms"]},
            r"action\.opt_out_presumed, actions: an opt-out must add to a company list",
        ),
        (
            {"action__opt_out__actions": ["company_dnc", "text_dnc"]},
            r"action\.opt_out, actions: unknown action 'text_dnc'",
        ),
        (
            {"action__opt_out__actions": ["company_dnc", "company_dnc"]},
            r"action\.opt_out, actions: an action is listed twice",
        ),
        (
            {"action__opt_out__remove": ["company_dnc"]},
            r"action\.opt_out: unknown field\(s\) remove",
        ),
        (
            {"action__opt_in__remove": ["lead_dnc:sms"]},
            r"action\.opt_in, remove: only company_dnc and company_dnt, got \['lead_dnc:sms'\]",
        ),
        ({"action__opt_in__remove": ["dnc"]}, r"action\.opt_in, remove: unknown action 'dnc'"),
        ({"action__opt_in__remove": "company_dnc"}, r"action\.opt_in, remove: must be a list"),
        (
            {"action__opt_in__remove": ["company_dnc", "company_dnc"]},
            r"action\.opt_in, remove: a list is named twice",
        ),
        (
            {"action__opt_in__actions": ["company_dnc"]},
            r"action\.opt_in: unknown field\(s\) actions",
        ),
        ({"action__help__reply": "yes"}, r"action\.help, reply: true or false, got 'yes'"),
        ({"action__other": {"reply": True}}, r"action\.other: unknown field\(s\) reply"),
        ({"action__opt_out__review": 1}, r"action\.opt_out, review: true or false, got 1"),
    ],
)
def test_bad_actions_are_refused_naming_the_field(changes, message):
    with pytest.raises(InvalidDefinition, match=f"^{message}"):
        parse_keyword_actions(shipped_with(**changes))


def test_other_may_send_every_message_to_review():
    data = shipped_with(action__other={"review": True})

    assert parse_keyword_actions(data)[OTHER] == KeywordAction(review=True)
