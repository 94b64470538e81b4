"""Campaign definitions, the campaign lifecycle and call statuses: pure data, no storage."""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest

from campaigns import (
    Action,
    ActionKind,
    CampaignState,
    CarrierResult,
    InvalidDefinition,
    InvalidTransition,
    StatusBook,
    check_optout_digit,
    check_retry_statuses,
    load_campaign,
    load_statuses,
    parse_campaign,
    parse_duration,
    parse_statuses,
    render_sms,
    transition,
)
from campaigns.definitions import DEFAULT_IVR_PROMPT, MAX_PROMPT
from compliance import CampaignWindow, Channel, LeadChannel

DROP = object()  # removes a field in the tables below

VOICE: dict[str, Any] = {
    "name": "spring-followup",
    "channel": "voice",
    "leads": "spring-list",
    "caller_id": "+13055550000",
    "max_attempts": 3,
    "max_concurrent": 20,
    "attempts_per_second": 10,
    "window": {
        "start": "09:00",
        "end": "20:00",
        "days": ["mon", "tue", "wed", "thu", "fri", "sat"],
    },
    "retry": {"NO_ANSWER": "4h", "BUSY": "30m", "MACHINE": "1d"},
    "ivr_optout_digit": "9",
}
SMS: dict[str, Any] = {
    "name": "spring-texts",
    "channel": "sms",
    "leads": "spring-list",
    "caller_id": "+13055550000",
    "max_attempts": 1,
    "max_concurrent": 5,
    "attempts_per_second": 1,
    "sms_body": "Hi {first_name}, reply STOP to opt out.",
}


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = {**base, **changes}
    return {key: value for key, value in data.items() if value is not DROP}


def _window(**changes: Any) -> dict[str, Any]:
    return _with(VOICE["window"], **changes)


# --- campaign definitions ----------------------------------------------------------------------


def test_voice_campaign_parses_every_field() -> None:
    spec = parse_campaign(VOICE)

    assert (spec.name, spec.channel, spec.leads) == (
        "spring-followup",
        Channel.VOICE,
        "spring-list",
    )
    assert spec.caller_id == "+13055550000"
    assert (spec.max_attempts, spec.max_concurrent, spec.attempts_per_second) == (3, 20, 10)
    assert spec.window == CampaignWindow(time(9), time(20), frozenset(range(6)))
    assert spec.retry == {
        "NO_ANSWER": timedelta(hours=4),
        "BUSY": timedelta(minutes=30),
        "MACHINE": timedelta(days=1),
    }
    assert (spec.sms_body, spec.ivr_optout_digit) == (None, "9")


def test_sms_campaign_defaults() -> None:
    spec = parse_campaign(SMS)

    assert spec.channel is Channel.SMS
    assert spec.sms_body == SMS["sms_body"]
    assert (spec.window, spec.retry, spec.ivr_optout_digit) == (None, {}, None)


def test_window_days_default_to_every_day() -> None:
    spec = parse_campaign(_with(VOICE, window={"start": "10:30", "end": "18:00"}))

    assert spec.window == CampaignWindow(time(10, 30), time(18), frozenset(range(7)))


@pytest.mark.parametrize(
    ("base", "changes", "message"),
    [
        (VOICE, {"max_attemps": 3}, "unknown field(s) max_attemps"),
        (VOICE, {"caller_id": DROP, "leads": DROP}, "missing field(s) leads, caller_id"),
        (VOICE, {"name": "  "}, "name: must be non-empty text"),
        (VOICE, {"leads": 7}, "leads: must be non-empty text, got 7"),
        (VOICE, {"channel": "email"}, "channel: 'email' must be 'voice' or 'sms'"),
        (VOICE, {"caller_id": "(305) 555-0000"}, "caller_id: '(305) 555-0000' is not E.164"),
        (VOICE, {"caller_id": 13055550000}, "write '+13055550000'"),
        (VOICE, {"caller_id": "+1305555"}, "caller_id: '+1305555': too short"),
        (VOICE, {"caller_id": ""}, "caller_id: '': empty"),
        (VOICE, {"max_attempts": 0}, "max_attempts: must be a positive whole number, got 0"),
        (VOICE, {"max_attempts": True}, "max_attempts: must be a positive whole number"),
        (VOICE, {"max_concurrent": 2.5}, "max_concurrent: must be a positive whole number"),
        (VOICE, {"attempts_per_second": "10"}, "attempts_per_second: must be a positive"),
        (VOICE, {"window": "09:00-20:00"}, "window: expected"),
        (VOICE, {"window": _window(tz="UTC")}, "window: unknown field(s) tz"),
        (VOICE, {"window": _window(end=DROP)}, "window: both start and end are required"),
        (VOICE, {"window": _window(start="9am")}, "window.start: '9am' is not a time"),
        (VOICE, {"window": _window(end="24:00")}, "window.end: '24:00' is not a time"),
        (VOICE, {"window": _window(start="20:00", end="09:00")}, "window: start 20:00 must be"),
        (VOICE, {"window": _window(start="09:00", end="09:00")}, "window: start 09:00 must be"),
        (VOICE, {"window": _window(days=[])}, "window.days: must list days"),
        (
            VOICE,
            {"window": _window(days=["mon", "funday"])},
            "window.days: unknown day(s) 'funday'",
        ),
        (VOICE, {"window": _window(days=["Mon"])}, "window.days: unknown day(s) 'Mon'"),
        (VOICE, {"window": _window(days=["mon", "mon"])}, "window.days: a day is listed twice"),
        (VOICE, {"retry": ["4h"]}, "retry: expected"),
        (VOICE, {"retry": {"BUSY": "30x"}}, "retry.BUSY: '30x' is not a duration"),
        (VOICE, {"retry": {"BUSY": 30}}, "retry.BUSY: 30 is not a duration"),
        (VOICE, {"retry": {"BUSY": "0m"}}, "retry.BUSY: '0m': a duration must be longer than zero"),
        (VOICE, {"retry": {"busy": "30m"}}, "retry.busy: not a status code"),
        (VOICE, {"sms_body": "Hi"}, "sms_body: only an sms campaign sends a text"),
        (VOICE, {"ivr_optout_digit": DROP}, "ivr_optout_digit: a voice campaign needs one"),
        (VOICE, {"ivr_optout_digit": "99"}, "ivr_optout_digit: a voice campaign needs one"),
        (VOICE, {"ivr_optout_digit": 9}, "got 9"),
        (SMS, {"sms_body": DROP}, "sms_body: an sms campaign needs the text to send"),
        (SMS, {"sms_body": " "}, "sms_body: an sms campaign needs the text to send"),
        (SMS, {"ivr_optout_digit": "9"}, "ivr_optout_digit: only a voice campaign has an IVR"),
        (SMS, {"sms_body": "Call {phone}"}, "sms_body: {phone} is not a lead field"),
        (SMS, {"sms_body": "Hi {0}"}, "sms_body: {0} is not a lead field"),
        (SMS, {"sms_body": "Hi {}"}, "sms_body: {} is not a lead field"),
        (SMS, {"sms_body": "Hi {first_name!r}"}, "sms_body: {first_name!r} is not a lead field"),
        (SMS, {"sms_body": "Hi {first_name:>9}"}, "sms_body: {first_name:>9} is not a lead field"),
        (SMS, {"sms_body": "Hi {email.upper}"}, "sms_body: {email.upper} is not a lead field"),
        (SMS, {"sms_body": "Hi {first_name"}, "sms_body: expected '}' before end of string"),
        (SMS, {"sms_body": "50% off }"}, "sms_body: Single '}' encountered"),
    ],
)
def test_invalid_campaign_names_the_field(
    base: dict[str, Any], changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidDefinition, match=re.escape(message)):
        parse_campaign(_with(base, **changes))


@pytest.mark.parametrize(
    "body",
    [
        "Hi {first_name} {last_name} <{email}>",
        "{state} {postal_code} ref {external_id}",
        "No placeholders, {{ literal braces }}",
    ],
)
def test_sms_body_may_quote_every_lead_field(body: str) -> None:
    assert parse_campaign(_with(SMS, sms_body=body)).sms_body == body


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2h0m5s", timedelta(hours=2, seconds=5)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "30", "1m30h", "1.5h", " 4h", "4H", "4 h", "-1h"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_load_campaign_prefixes_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "spring.toml"
    path.write_text('name = "spring"\nchannel = "fax"\n')

    with pytest.raises(InvalidDefinition, match=r"^spring\.toml: missing field\(s\) leads"):
        load_campaign(path)


def test_load_campaign_reports_bad_toml_as_invalid_definition(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "spring\n')

    with pytest.raises(InvalidDefinition, match=r"^broken\.toml: "):
        load_campaign(path)


def test_load_campaign_reads_the_brief_example(tmp_path: Path) -> None:
    path = tmp_path / "spring.toml"
    path.write_text(
        'name = "spring-followup"\n'
        'channel = "voice"\n'
        'leads = "spring-list"\n'
        'caller_id = "+13055550000"\n'
        "max_attempts = 3\n"
        "max_concurrent = 20\n"
        "attempts_per_second = 10\n"
        'window = { start = "09:00", end = "20:00", days = ["mon", "fri"] }\n'
        'retry = { NO_ANSWER = "4h", BUSY = "30m", MACHINE = "1d" }\n'
        'ivr_optout_digit = "9"\n'
    )

    spec = load_campaign(str(path))

    assert spec.window is not None
    assert spec.window.days == frozenset({0, 4})
    assert spec.retry["BUSY"] == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"first_name": "Ana"}, "Hi Ana, reply STOP to opt out."),
        ({"first_name": ""}, "Hi , reply STOP to opt out."),
        ({"first_name": None}, "Hi , reply STOP to opt out."),
        ({}, "Hi , reply STOP to opt out."),
        ({"first_name": "{last_name}"}, "Hi {last_name}, reply STOP to opt out."),
    ],
)
def test_render_sms(fields: dict[str, str | None], expected: str) -> None:
    assert render_sms("Hi {first_name}, reply STOP to opt out.", fields) == expected


def test_render_sms_keeps_literal_braces_and_fills_every_field() -> None:
    lead = {"first_name": "Ana", "last_name": "Ruiz", "state": "FL", "external_id": "A-7"}

    rendered = render_sms("{{ref}} {external_id}: {first_name} {last_name} ({state})", lead)

    assert rendered == "{ref} A-7: Ana Ruiz (FL)"


def test_render_sms_refuses_a_placeholder_that_is_not_a_lead_field() -> None:
    with pytest.raises(ValueError, match=re.escape("{phone} is not a lead field")):
        render_sms("Call {phone}", {"phone": "+13055550134"})


# --- the campaign against the company's statuses -----------------------------------------------


@pytest.fixture(scope="module")
def defaults() -> StatusBook:
    return load_statuses()


def test_brief_campaigns_fit_the_default_statuses(defaults: StatusBook) -> None:
    for data in (VOICE, SMS):
        spec = parse_campaign(data)
        check_retry_statuses(spec, defaults)
        check_optout_digit(spec, defaults)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"retry": {**VOICE["retry"], "NOPE": "1h"}}, "retry.NOPE: there is no status NOPE"),
        ({"retry": {**VOICE["retry"], "ANSWERED": "1h"}}, "retry.ANSWERED: ANSWERED is final"),
        ({"retry": {"NO_ANSWER": "4h"}}, "retry: no delay for BUSY, MACHINE"),
        ({"retry": DROP}, "retry: no delay for BUSY, MACHINE, NO_ANSWER"),
    ],
)
def test_retry_must_fit_the_statuses(
    defaults: StatusBook, changes: dict[str, Any], message: str
) -> None:
    spec = parse_campaign(_with(VOICE, **changes))

    with pytest.raises(InvalidDefinition, match=re.escape(message)):
        check_retry_statuses(spec, defaults)


def test_a_single_attempt_campaign_needs_no_retry(defaults: StatusBook) -> None:
    check_retry_statuses(parse_campaign(_with(VOICE, max_attempts=1, retry=DROP)), defaults)


def test_an_optout_digit_that_blocks_nothing_is_refused(defaults: StatusBook) -> None:
    spec = parse_campaign(_with(VOICE, ivr_optout_digit="8"))

    with pytest.raises(InvalidDefinition, match="pressing '8' gives status ANSWERED"):
        check_optout_digit(spec, defaults)


def test_a_voice_campaign_without_a_prompt_says_the_default_with_its_key() -> None:
    spec = parse_campaign(_with(VOICE, ivr_optout_digit="7"))

    assert spec.ivr_prompt == DEFAULT_IVR_PROMPT
    assert spec.spoken_prompt() == "To stop receiving these calls, press 7."


def test_a_custom_prompt_is_spoken_with_the_opt_out_key_filled_in() -> None:
    prompt = "Press {digit} & we stop. Again: {digit}."
    spec = parse_campaign(_with(VOICE, ivr_prompt=prompt))

    assert spec.ivr_prompt == prompt
    assert spec.spoken_prompt() == "Press 9 & we stop. Again: 9."


def test_a_prompt_of_the_longest_length_allowed_is_accepted() -> None:
    prompt = "Press {digit}. " + "x" * (MAX_PROMPT - len("Press {digit}. "))

    assert parse_campaign(_with(VOICE, ivr_prompt=prompt)).ivr_prompt == prompt


def test_an_sms_campaign_has_no_prompt() -> None:
    assert parse_campaign(SMS).ivr_prompt is None


@pytest.mark.parametrize(
    ("base", "prompt", "message"),
    [
        (
            VOICE,
            "To stop these calls, press 9.",
            "ivr_prompt: must name the opt-out key as {digit}",
        ),
        (VOICE, "Press {key} to stop.", "ivr_prompt: must name the opt-out key as {digit}"),
        (VOICE, "", "ivr_prompt: expected the text to say, 1 to 500 characters, got ''"),
        (VOICE, "   ", "ivr_prompt: expected the text to say, 1 to 500 characters"),
        (VOICE, "{digit}" + "x" * 494, "ivr_prompt: expected the text to say, 1 to 500"),
        (VOICE, 9, "ivr_prompt: expected the text to say, 1 to 500 characters, got 9"),
        (VOICE, ["press {digit}"], "ivr_prompt: expected the text to say"),
        (SMS, "Press {digit} to stop.", "ivr_prompt: only a voice campaign has an IVR"),
    ],
)
def test_a_bad_prompt_is_refused_with_a_message_naming_it(
    base: dict[str, Any], prompt: Any, message: str
) -> None:
    with pytest.raises(InvalidDefinition, match=re.escape(message)):
        parse_campaign(_with(base, ivr_prompt=prompt))


def test_a_prompt_without_its_key_is_refused_from_the_campaign_file(tmp_path: Path) -> None:
    path = tmp_path / "spring.toml"
    path.write_text(
        'name = "spring"\nchannel = "voice"\nleads = "spring"\ncaller_id = "+13055550000"\n'
        "max_attempts = 1\nmax_concurrent = 1\nattempts_per_second = 1\n"
        'ivr_optout_digit = "9"\nivr_prompt = "Press nine to stop."\n'
    )

    with pytest.raises(InvalidDefinition, match=r"spring\.toml: ivr_prompt: must name the opt-out"):
        load_campaign(path)


# --- lifecycle ---------------------------------------------------------------------------------

ALLOWED = {
    ("draft", "start"): "running",
    ("running", "pause"): "paused",
    ("running", "stop"): "stopped",
    ("running", "complete"): "completed",
    ("paused", "resume"): "running",
    ("paused", "stop"): "stopped",
}


@pytest.mark.parametrize("state", list(CampaignState))
@pytest.mark.parametrize("action", ["start", "pause", "resume", "stop", "complete"])
def test_transition_table(state: CampaignState, action: str) -> None:
    expected = ALLOWED.get((state.value, action))
    if expected is None:
        with pytest.raises(InvalidTransition, match=f"^cannot {action} a {state} campaign"):
            transition(state, action)
    else:
        assert transition(state, action) == CampaignState(expected)


@pytest.mark.parametrize(
    ("state", "action", "message"),
    [
        ("completed", "pause", "cannot pause a completed campaign: it is over"),
        ("stopped", "resume", "cannot resume a stopped campaign: it is over"),
        (
            "running",
            "start",
            "cannot start a running campaign; it can only pause, stop or complete",
        ),
        ("paused", "complete", "cannot complete a paused campaign; it can only resume or stop"),
        ("draft", "stop", "cannot stop a draft campaign; it can only start"),
    ],
)
def test_invalid_transition_says_why(state: str, action: str, message: str) -> None:
    with pytest.raises(InvalidTransition, match=f"^{re.escape(message)}$"):
        transition(state, action)


def test_unknown_action_is_a_value_error_not_a_transition() -> None:
    with pytest.raises(ValueError, match="unknown campaign action 'restart'") as caught:
        transition("running", "restart")

    assert not isinstance(caught.value, InvalidTransition)


# --- statuses ----------------------------------------------------------------------------------


def _statuses(*extra: dict[str, Any], rules: list[dict[str, Any]] | None = None) -> dict:
    """A complete book: OK and OPTED_OUT, answered + 9 -> OPTED_OUT, every result -> OK."""
    statuses = [
        {"code": "OK", "label": "Done", "final": True},
        {"code": "OPTED_OUT", "final": True, "actions": ["company_dnc"]},
        *extra,
    ]
    catch_all = [{"result": result.value, "status": "OK"} for result in CarrierResult]
    first = [{"result": "answered", "digits": "9", "status": "OPTED_OUT"}]
    return {"status": statuses, "map": (rules or []) + first + catch_all}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**_statuses(), "maps": []}, "top level: unknown field(s) maps"),
        ({"status": {"code": "OK"}, "map": []}, "write each status as [[status]]"),
        (_statuses({"code": "OK", "final": False}), "status #3, code: OK is defined twice"),
        (_statuses({"code": "no_answer", "final": False}), "status #3, code: 'no_answer' must"),
        (_statuses({"code": "X"}), "status #3 (X), final: required, true or false, got nothing"),
        (_statuses({"code": "X", "final": "yes"}), "status #3 (X), final: required"),
        (_statuses({"code": "X", "final": True, "label": ""}), "status #3 (X), label: must"),
        (_statuses({"code": "X", "final": True, "color": "red"}), "unknown field(s) color"),
        (
            _statuses({"code": "X", "final": True, "actions": ["lead_dnc:fax"]}),
            "status #3 (X), actions: unknown action 'lead_dnc:fax'",
        ),
        (
            _statuses({"code": "X", "final": True, "actions": ["dnc"]}),
            "status #3 (X), actions: unknown action 'dnc'",
        ),
        (
            _statuses({"code": "X", "final": True, "actions": ["company_dnc:phone"]}),
            "unknown action 'company_dnc:phone'",
        ),
        (
            _statuses({"code": "X", "final": True, "actions": ["lead_status:"]}),
            "status #3 (X), actions: 'lead_status:' needs a value",
        ),
        (
            _statuses({"code": "X", "final": True, "actions": ["lead_status"]}),
            "'lead_status' needs a value",
        ),
        (
            _statuses({"code": "X", "final": True, "actions": ["lead_status:a", "lead_status:b"]}),
            "status #3 (X), actions: at most one lead_status:VALUE",
        ),
        (
            _statuses({"code": "X", "final": True, "actions": ["company_dnc", "company_dnc"]}),
            "status #3 (X), actions: an action is listed twice",
        ),
        (
            _statuses({"code": "X", "final": True, "actions": "company_dnc"}),
            "status #3 (X), actions: must be a list",
        ),
        (
            _statuses(rules=[{"result": "hangup", "status": "OK"}]),
            "map #1, result: unknown result 'hangup'",
        ),
        (
            _statuses(rules=[{"result": "answered", "status": "DNC"}]),
            "map #1, status: 'DNC' is not a defined [[status]] code",
        ),
        (
            _statuses(rules=[{"result": "busy", "digits": "9", "status": "OK"}]),
            "map #1, digits: only an 'answered' result has digits",
        ),
        (
            _statuses(rules=[{"result": "answered", "digits": 9, "status": "OK"}]),
            "map #1, digits: 9 must be keypad keys",
        ),
        (
            _statuses(rules=[{"result": "answered", "status": "OK", "key": "1"}]),
            "map #1: unknown field(s) key",
        ),
        (
            _statuses(rules=[{"result": "answered", "status": "OK"}]),
            "map #2: never used, map #1 already matches result 'answered' with digits '9'",
        ),
        (
            {
                "status": [{"code": "OK", "final": True}],
                "map": [{"result": "busy", "status": "OK"}],
            },
            "map: no rule without digits for result(s) answered, no-answer, failed",
        ),
    ],
)
def test_invalid_statuses_name_the_table(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidDefinition, match=re.escape(message)):
        parse_statuses(data)


def test_actions_are_parsed() -> None:
    actions = ["company_dnc", "company_dnt", "lead_dnc:phone", "lead_dnc:email", "lead_status:lost"]
    book = parse_statuses(_statuses({"code": "X", "final": True, "actions": actions}))

    parsed = book.statuses["X"].actions
    assert parsed == (
        Action(ActionKind.COMPANY_DNC),
        Action(ActionKind.COMPANY_DNT),
        Action(ActionKind.LEAD_DNC, LeadChannel.PHONE),
        Action(ActionKind.LEAD_DNC, LeadChannel.EMAIL),
        Action(ActionKind.LEAD_STATUS, "lost"),
    )
    assert [str(action) for action in parsed] == actions


@pytest.mark.parametrize(
    ("result", "digits", "expected"),
    [
        ("answered", "9", "OPTED_OUT"),  # the digits rule comes first
        ("answered", "1", "OK"),
        ("answered", "99", "OK"),  # digits are compared exactly
        ("answered", None, "OK"),
        ("answered", "", "OK"),
        ("busy", "9", "OK"),  # a rule without digits matches any digits
    ],
)
def test_status_for_first_match(result: str, digits: str | None, expected: str) -> None:
    book = parse_statuses(_statuses())

    assert book.status_for(result, digits).code == expected


def test_status_for_unknown_result() -> None:
    with pytest.raises(ValueError, match="unknown carrier result 'hangup'"):
        parse_statuses(_statuses()).status_for("hangup")


def test_a_status_named_dnc_without_actions_has_no_actions() -> None:
    rules = [{"result": "answered", "digits": "8", "status": "DNC"}]
    book = parse_statuses(_statuses({"code": "DNC", "final": True}, rules=rules))

    assert book.status_for("answered", "8").actions == ()
    spec = parse_campaign(_with(VOICE, ivr_optout_digit="8"))
    with pytest.raises(InvalidDefinition, match="gives status DNC, which blocks nothing"):
        check_optout_digit(spec, book)


def test_default_statuses_map_every_result(defaults: StatusBook) -> None:
    expected = {
        "answered": "ANSWERED",
        "no-answer": "NO_ANSWER",
        "busy": "BUSY",
        "failed": "FAILED",
        "machine": "MACHINE",
        "delivered": "DELIVERED",
        "undelivered": "UNDELIVERED",
    }

    assert {result: defaults.status_for(result).code for result in CarrierResult} == expected
    assert defaults.status_for("answered", "9").code == "DNC_REQUESTED"


def test_default_statuses_finality_and_actions(defaults: StatusBook) -> None:
    not_final = {"NO_ANSWER", "BUSY", "MACHINE"}
    final = {"ANSWERED", "DNC_REQUESTED", "WRONG_NUMBER", "FAILED", "DELIVERED", "UNDELIVERED"}

    assert {code for code, status in defaults.statuses.items() if not status.final} == not_final
    assert final <= {code for code, status in defaults.statuses.items() if status.final}
    assert defaults.statuses["DNC_REQUESTED"].actions == (Action(ActionKind.COMPANY_DNC),)
    assert defaults.statuses["WRONG_NUMBER"].actions == (
        Action(ActionKind.LEAD_DNC, LeadChannel.PHONE),
        Action(ActionKind.LEAD_DNC, LeadChannel.SMS),
    )
    others = set(defaults.statuses) - {"DNC_REQUESTED", "WRONG_NUMBER"}
    assert all(defaults.statuses[code].actions == () for code in others)


def test_load_statuses_prefixes_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "acme-statuses.toml"
    path.write_text('[[status]]\ncode = "OK"\nfinal = true\nactions = ["dnc"]\n')

    with pytest.raises(InvalidDefinition, match=r"^acme-statuses\.toml: status #1 \(OK\)"):
        load_statuses(path)
