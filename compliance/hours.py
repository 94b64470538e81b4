"""Calling windows: may the called party be contacted at this instant, in every candidate zone?

Pure functions over plain data. The rules live in `config/state_rules.toml` (federal hours,
state hours, Sunday bans, holidays, rolling caps), each with its source and effective dates, and
are loaded once into a `RuleBook`. `check_hours` judges one instant:

* every rule set (federal, then each state given, then the campaign's own window) is judged in
  every candidate zone, on that zone's own local date and time: at 04:30Z on a Monday it is
  Monday in New York and still Sunday in Los Angeles;
* the attempt may go only if all of them pass (most restrictive wins); each failing
  (rule, zone) pair is one `Reason`;
* when blocked, `next_eligible_at` is the first instant at which all of them pass.

Time is compared as instants, never as wall-clock readings: a window [08:00, 20:00) on a local
date is the interval from the first instant the zone's clock reads 08:00 that day to the first
instant it reads 20:00. This keeps DST days exact: a reading the clock skips (02:30 on
2026-03-08 in New York) starts at the jump, a repeated reading (01:30 on 2026-11-01) at its
first occurrence.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

from compliance.reasons import Code, Reason
from compliance.wording import toml_value

__all__ = [
    "EARLIEST",
    "LATEST",
    "CampaignWindow",
    "Cap",
    "DayWindow",
    "HolidayRule",
    "HoursRule",
    "HoursVerdict",
    "RuleBook",
    "RuleSet",
    "check_hours",
    "check_instant",
    "load_rules",
    "parse_rules",
    "state_caps",
]

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULT_RULES_PATH = CONFIG_DIR / "state_rules.toml"

CHANNELS = frozenset({"voice", "sms"})
# How far ahead `next_eligible_at` looks. Two weeks cover any weekly pattern plus a run of
# holidays; a lead still blocked after that has candidate zones no window can satisfy at once.
HORIZON = timedelta(days=14)
DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
STATUSES = frozenset({"verified", "secondary", "inferred", "unverified"})
# The instants the product accepts, given (a command's --at, a blackout's end) or computed
# (a retry's due time, the next eligible instant): wide enough for any campaign, and years
# away from datetime's own limits, so date arithmetic near them cannot overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def check_instant(moment: datetime) -> None:
    """ValueError unless `moment` (aware) lies from EARLIEST to LATEST, both included."""
    if not EARLIEST <= moment <= LATEST:
        raise ValueError(
            f"{moment.isoformat()} is out of range: "
            f"give an instant from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC)"
        )


# --- the rule data -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayWindow:
    """Allowed local hours of one day: from `start` (inclusive) to `end` (exclusive)."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"window {self} must end after it starts")

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


class _InEffect:
    """Effective dates and channels shared by every rule: [effective_from, effective_to)."""

    __slots__ = ()
    channels: frozenset[str]
    effective_from: date
    effective_to: date | None

    def applies(self, day: date, channel: str) -> bool:
        """Whether the rule governs `channel` on local date `day`."""
        if channel not in self.channels or day < self.effective_from:
            return False
        return self.effective_to is None or day < self.effective_to


@dataclass(frozen=True, slots=True)
class HoursRule(_InEffect):
    """Allowed hours per weekday (Mon=0); None = no contact that day (a Sunday ban)."""

    week: tuple[DayWindow | None, ...]
    rule: str
    source: str
    channels: frozenset[str] = CHANNELS
    effective_from: date = date.min
    effective_to: date | None = None


@dataclass(frozen=True, slots=True)
class HolidayRule(_InEffect):
    """Local dates with no contact at all, each with its holiday's name."""

    dates: Mapping[date, str]
    rule: str
    source: str
    channels: frozenset[str] = CHANNELS
    effective_from: date = date.min
    effective_to: date | None = None


@dataclass(frozen=True, slots=True)
class Cap(_InEffect):
    """At most `limit` attempts on `channels` per rolling `window` (the gate counts them)."""

    limit: int
    window: timedelta
    channels: frozenset[str]
    rule: str
    source: str
    effective_from: date = date.min
    effective_to: date | None = None


@dataclass(frozen=True, slots=True, eq=False)
class RuleSet:
    """Every rule of one jurisdiction: `rule` is 'federal' or 'state:XX'.

    Compared and hashed by identity: it keys the per-date caches of this module.
    """

    rule: str
    state: str | None
    hours: tuple[HoursRule, ...] = ()
    holidays: tuple[HolidayRule, ...] = ()
    caps: tuple[Cap, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class RuleBook:
    """The loaded rule data: federal rules, then state rules by postal code."""

    federal: RuleSet
    states: Mapping[str, RuleSet]
    version: str = ""


@dataclass(frozen=True, slots=True)
class CampaignWindow:
    """A campaign's own hours and weekdays (Mon=0), in each zone's local time.

    It can only narrow the law: the attempt must pass the campaign window *and* every rule.
    """

    start: time
    end: time
    days: frozenset[int] = frozenset(range(7))

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"campaign window {self.start}-{self.end} must end after it starts")
        if not self.days <= frozenset(range(7)):
            raise ValueError(f"campaign days {sorted(self.days)} must be weekdays 0 (Mon)-6 (Sun)")


@dataclass(frozen=True, slots=True)
class HoursVerdict:
    """Every failing (rule, zone), the local time in each zone, and when all rules pass.

    `next_eligible_at` (UTC) is None when the attempt is allowed now, and also when no instant
    within HORIZON (14 days), and not past LATEST, passes every rule in every zone; then
    `reasons` is not empty.
    """

    reasons: list[Reason]
    local_times: dict[str, str]
    next_eligible_at: datetime | None = None

    @property
    def allowed(self) -> bool:
        return not self.reasons


# --- judging an instant ------------------------------------------------------------------------

_Scope: TypeAlias = "RuleSet | CampaignWindow"


@dataclass(frozen=True, slots=True)
class _DayPlan:
    """What one scope allows on one local date: a window, or nothing (`window` None)."""

    window: DayWindow | None
    label: str  # "08:00-20:00", a holiday's name, "no calls on Sunday"
    code: Code  # reported when an instant falls outside


def check_hours(
    at: datetime,
    zones: Sequence[str],
    states: Sequence[str],
    channel: str,
    rules: RuleBook,
    campaign: CampaignWindow | None = None,
) -> HoursVerdict:
    """Judge instant `at` (aware) for a called party who may be in any of `zones`.

    `states` are the postal codes whose rules apply (the area code's state and the lead's
    address state); states without rules add nothing. `zones` must not be empty: with no zone
    the caller reports TZ_UNKNOWN instead. Unknown zone names raise ZoneInfoNotFoundError.
    """
    moment = _utc(at)
    _check_channel(channel)
    if not zones:
        raise ValueError("no candidate time zone: the attempt must be skipped as TZ_UNKNOWN")
    scopes = _scopes(rules, states, campaign)
    local = {zone: moment.astimezone(_zone(zone)) for zone in zones}
    reasons = [
        _reason(scope, zone, local[zone], plan)
        for scope in scopes
        for zone in local
        if (plan := _failing(scope, zone, local[zone], moment, channel))
    ]
    local_times = {zone: when.isoformat(timespec="seconds") for zone, when in local.items()}
    later = _next_eligible(scopes, tuple(local), channel, moment) if reasons else None
    return HoursVerdict(reasons, local_times, later)


def state_caps(states: Sequence[str], channel: str, on: date, rules: RuleBook) -> list[Cap]:
    """The rolling caps of `states` that govern `channel` on date `on`."""
    _check_channel(channel)
    return [
        cap
        for state in _unique_states(states)
        if state in rules.states
        for cap in rules.states[state].caps
        if cap.applies(on, channel)
    ]


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"instant {at.isoformat()} has no time zone: pass an aware datetime")
    return at.astimezone(UTC)


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; choose from {', '.join(sorted(CHANNELS))}")


def _unique_states(states: Sequence[str]) -> list[str]:
    """Postal codes upper-cased, first occurrence kept (area-code state = address state)."""
    return list(dict.fromkeys(state.strip().upper() for state in states if state))


def _scopes(
    rules: RuleBook, states: Sequence[str], campaign: CampaignWindow | None
) -> list[_Scope]:
    """Federal first, then the states in the order given, then the campaign."""
    scopes: list[_Scope] = [rules.federal]
    scopes += [rules.states[s] for s in _unique_states(states) if s in rules.states]
    if campaign is not None:
        scopes.append(campaign)
    return scopes


def _failing(
    scope: _Scope, zone: str, local: datetime, moment: datetime, channel: str
) -> _DayPlan | None:
    """The day plan `moment` falls outside of, or None when `scope` allows it in `zone`."""
    plan = _plan(scope, local.date(), channel)
    if plan is None:
        return None
    if plan.window is not None:
        start, end = _bounds(zone, local.date(), plan.window)
        if start <= moment < end:
            return None
    return plan


def _reason(scope: _Scope, zone: str, local: datetime, plan: _DayPlan) -> Reason:
    if isinstance(scope, CampaignWindow):
        rule, state = "campaign", None
    else:
        rule, state = scope.rule, scope.state
    detail = {
        "zone": zone,
        "local_time": local.isoformat(timespec="seconds"),
        "window": plan.label,
        "state": state,
    }
    return Reason(plan.code, rule, detail)


# --- day plans: what a scope allows on a local date --------------------------------------------


@lru_cache(maxsize=16384)
def _plan(scope: _Scope, day: date, channel: str) -> _DayPlan | None:
    """None when no rule of `scope` governs that day (anything goes)."""
    if isinstance(scope, CampaignWindow):
        return _campaign_plan(scope, day)
    return _rules_plan(scope, day, channel)


def _rules_plan(rules: RuleSet, day: date, channel: str) -> _DayPlan | None:
    for holidays in rules.holidays:
        if day in holidays.dates and holidays.applies(day, channel):
            return _DayPlan(None, holidays.dates[day], Code.RESTRICTED_DAY)
    windows = [hours.week[day.weekday()] for hours in rules.hours if hours.applies(day, channel)]
    if not windows:
        return None
    if None in windows:
        return _closed(day)
    return _intersection([window for window in windows if window is not None])


def _campaign_plan(campaign: CampaignWindow, day: date) -> _DayPlan:
    if day.weekday() not in campaign.days:
        return _closed(day)
    window = DayWindow(campaign.start, campaign.end)
    return _DayPlan(window, str(window), Code.OUTSIDE_CALLING_HOURS)


def _closed(day: date) -> _DayPlan:
    return _DayPlan(None, f"no calls on {DAY_NAMES[day.weekday()]}", Code.RESTRICTED_DAY)


def _intersection(windows: list[DayWindow]) -> _DayPlan:
    """Several rules of one jurisdiction in effect on one day: all must pass."""
    start, end = max(w.start for w in windows), min(w.end for w in windows)
    if start >= end:
        return _DayPlan(
            None, "no hours (the rules' windows do not overlap)", Code.OUTSIDE_CALLING_HOURS
        )
    window = DayWindow(start, end)
    return _DayPlan(window, str(window), Code.OUTSIDE_CALLING_HOURS)


# --- local readings as instants ----------------------------------------------------------------


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=16384)
def _bounds(zone: str, day: date, window: DayWindow) -> tuple[datetime, datetime]:
    """The window on local date `day` in `zone`, as UTC instants [start, end)."""
    return _first_instant(zone, day, window.start), _first_instant(zone, day, window.end)


@lru_cache(maxsize=16384)
def _first_instant(zone: str, day: date, reading: time) -> datetime:
    """The first instant (UTC) at which the zone's clock reads `reading` or later on `day`.

    A repeated reading (autumn) is its first occurrence; a skipped one (spring) is the jump.
    """
    tz = _zone(zone)
    naive = datetime.combine(day, reading)
    earlier = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if earlier.astimezone(tz).replace(tzinfo=None) == naive:
        return earlier
    later = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return _offset_change(tz, min(earlier, later), max(earlier, later))


def _offset_change(tz: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The instant in (before, after] at which the zone's UTC offset changes, to the second."""
    target = after.astimezone(tz).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == target:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


# --- the next instant every rule passes --------------------------------------------------------


def _next_eligible(
    scopes: list[_Scope], zones: tuple[str, ...], channel: str, at: datetime
) -> datetime | None:
    """Jump to the latest opening among the blocking (scope, zone) pairs until none blocks.

    Each jump passes at least one window start, so the loop ends; None past the horizon,
    and past LATEST: the gate names no instant the product would not accept.
    """
    if at > LATEST:
        return None
    moment, limit = at, min(at + HORIZON, LATEST)
    while moment <= limit:
        openings = [
            _opens(scope, zone, channel, moment)
            for scope in scopes
            for zone in zones
            if _failing(scope, zone, moment.astimezone(_zone(zone)), moment, channel)
        ]
        if not openings:
            return moment
        if None in openings:
            return None
        later = max(opening for opening in openings if opening is not None)
        if later <= moment:  # cannot happen (a blocking pair opens later); never spin
            return None
        moment = later
    return None


def _opens(scope: _Scope, zone: str, channel: str, moment: datetime) -> datetime | None:
    """The first instant >= `moment` at which `scope` allows a contact in `zone`."""
    first = moment.astimezone(_zone(zone)).date()
    for offset in range(HORIZON.days + 2):
        day = first + timedelta(days=offset)
        plan = _plan(scope, day, channel)
        if plan is None:  # nothing restricts that day: all of it
            start, end = _whole_day(zone, day)
        elif plan.window is None:
            continue
        else:
            start, end = _bounds(zone, day, plan.window)
        if end > moment:
            return max(start, moment)
    return None


def _whole_day(zone: str, day: date) -> tuple[datetime, datetime]:
    return _first_instant(zone, day, time(0)), _first_instant(
        zone, day + timedelta(days=1), time(0)
    )


# --- loading and checking the data -------------------------------------------------------------

_COMMON_KEYS = frozenset({"source", "effective_from", "effective_to", "channels", "status", "note"})
_HOURS_KEYS = _COMMON_KEYS | {"daily", "weekdays", *DAY_KEYS}
_HOLIDAY_KEYS = _COMMON_KEYS | {"dates"}
_CAP_KEYS = _COMMON_KEYS | {"limit", "window_hours"}
_WINDOW = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")
_STATE_CODE = re.compile(r"[A-Z]{2}")


def load_rules(path: Path | None = None) -> RuleBook:
    """Read and check the rule file (default: the repository's config/state_rules.toml).

    Bad data raises ValueError naming the state, the table and the field.
    """
    path = path or DEFAULT_RULES_PATH
    try:
        with path.open("rb") as file:
            return parse_rules(tomllib.load(file))
    except ValueError as error:  # TOML syntax errors are ValueErrors too
        raise ValueError(f"{path.name}: {error}") from None


def parse_rules(data: Mapping[str, Any]) -> RuleBook:
    """Build a RuleBook from parsed TOML (a dict), checking every table."""
    only_keys(data, {"version", "federal", "state"}, "top level")
    if "federal" not in data:
        raise ValueError("a [[federal.hours]] table is required")
    federal = _rule_set("federal", None, data["federal"], "federal")
    if not federal.hours:
        raise ValueError("federal: at least one [[federal.hours]] table is required")
    states = {}
    for code, tables in toml_table(data.get("state", {}), "state").items():
        if not _STATE_CODE.fullmatch(code):
            raise ValueError(f"state {toml_value(code)}: use the two-letter postal code, e.g. 'FL'")
        states[code] = _rule_set(f"state:{code}", code, tables, f"state {code}")
    return RuleBook(federal, states, str(data.get("version", "")))


def _rule_set(rule: str, state: str | None, tables: Any, where: str) -> RuleSet:
    only_keys(toml_table(tables, where), {"hours", "holidays", "caps"}, where)
    return RuleSet(
        rule,
        state,
        hours=tuple(_hours(t, rule, w) for t, w in _tables_of(tables, "hours", where)),
        holidays=tuple(_holidays(t, rule, w) for t, w in _tables_of(tables, "holidays", where)),
        caps=tuple(_cap(t, rule, w) for t, w in _tables_of(tables, "caps", where)),
    )


def _tables_of(
    tables: Mapping[str, Any], kind: str, where: str
) -> list[tuple[Mapping[str, Any], str]]:
    """The [[...kind]] tables, each with its place for error messages ('state FL, caps #1')."""
    items = tables.get(kind, [])
    if not isinstance(items, list):
        raise ValueError(f"{where}: write each rule as [[...{kind}]] (an array of tables)")
    places = [f"{where}, {kind} #{n}" for n in range(1, len(items) + 1)]
    return [(toml_table(item, place), place) for item, place in zip(items, places, strict=True)]


def _hours(table: Mapping[str, Any], rule: str, where: str) -> HoursRule:
    only_keys(table, _HOURS_KEYS, where)
    return HoursRule(_week(table, where), rule, **_common(table, where))


def _holidays(table: Mapping[str, Any], rule: str, where: str) -> HolidayRule:
    only_keys(table, _HOLIDAY_KEYS, where)
    entries = table.get("dates")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{where}: 'dates' must list {{ date = YYYY-MM-DD, name = \"...\" }}")
    dates: dict[date, str] = {}
    for n, entry in enumerate(entries, 1):
        day, name = _holiday(entry, f"{where}, dates #{n}")
        if day in dates:
            raise ValueError(f"{where}, dates #{n}: {day} is listed twice")
        dates[day] = name
    return HolidayRule(dates, rule, **_common(table, where))


def _holiday(entry: Any, where: str) -> tuple[date, str]:
    only_keys(toml_table(entry, where), {"date", "name"}, where)
    name = entry.get("name")
    if not (isinstance(name, str) and name.strip()):
        raise ValueError(f"{where}: 'name' must be the holiday's name")
    return _date(entry.get("date"), f"{where}, date"), name.strip()


def _cap(table: Mapping[str, Any], rule: str, where: str) -> Cap:
    only_keys(table, _CAP_KEYS, where)
    if "channels" not in table:
        raise ValueError(f"{where}: 'channels' is required for a cap (which attempts count)")
    limit, hours = table.get("limit"), table.get("window_hours")
    if not (isinstance(limit, int) and not isinstance(limit, bool) and limit > 0):
        raise ValueError(f"{where}, limit: must be a positive integer, got {toml_value(limit)}")
    if not (isinstance(hours, int | float) and not isinstance(hours, bool) and hours > 0):
        raise ValueError(
            f"{where}, window_hours: must be a positive number, got {toml_value(hours)}"
        )
    common = _common(table, where)
    return Cap(limit, timedelta(hours=hours), common.pop("channels"), rule, **common)


def _common(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """source, channels and effective dates, checked."""
    source = table.get("source")
    if not (isinstance(source, str) and source.strip()):
        raise ValueError(f"{where}, source: the URL of the rule's text is required")
    status = table.get("status")
    if status is not None and status not in STATUSES:
        raise ValueError(
            f"{where}, status: {toml_value(status)} is not one of {', '.join(sorted(STATUSES))}"
        )
    if "effective_from" not in table:
        raise ValueError(f"{where}, effective_from: required (first local date it applies)")
    start = _date(table["effective_from"], f"{where}, effective_from")
    end = (
        _date(table["effective_to"], f"{where}, effective_to") if "effective_to" in table else None
    )
    if end is not None and end <= start:
        raise ValueError(f"{where}, effective_to: {end} must be after effective_from {start}")
    return {
        "source": source.strip(),
        "channels": _channels(table.get("channels", sorted(CHANNELS)), where),
        "effective_from": start,
        "effective_to": end,
    }


def _channels(value: Any, where: str) -> frozenset[str]:
    if not (isinstance(value, list) and value and set(value) <= CHANNELS):
        raise ValueError(
            f"{where}, channels: must list some of {', '.join(sorted(CHANNELS))}, "
            f"got {toml_value(value)}"
        )
    return frozenset(value)


def _week(table: Mapping[str, Any], where: str) -> tuple[DayWindow | None, ...]:
    """daily, then weekdays (Mon-Fri), then single days; every day must end up set."""
    values = [table.get("daily")] * 7
    if "weekdays" in table:
        values[:5] = [table["weekdays"]] * 5
    for index, key in enumerate(DAY_KEYS):
        values[index] = table.get(key, values[index])
    missing = [DAY_KEYS[i] for i, value in enumerate(values) if value is None]
    if missing:
        raise ValueError(
            f"{where}: no hours for {', '.join(missing)} (set daily, weekdays or the day)"
        )
    return tuple(_day(value, f"{where}, {DAY_KEYS[i]}") for i, value in enumerate(values))


def _day(value: Any, where: str) -> DayWindow | None:
    """'09:00-18:00' -> DayWindow; 'closed' -> None (no contact all day)."""
    if value == "closed":
        return None
    match = _WINDOW.fullmatch(value) if isinstance(value, str) else None
    if match:
        start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
        try:
            return DayWindow(time(start_h, start_m), time(end_h, end_m))
        except ValueError:
            pass  # 25:00, or a window ending before it starts: reported below
    raise ValueError(f"{where}: {toml_value(value)} is not 'HH:MM-HH:MM' (start < end) or 'closed'")


def _date(value: Any, where: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {toml_value(value)} is not a date (YYYY-MM-DD)") from None


def toml_table(value: Any, where: str) -> Mapping[str, Any]:
    """`value` if it is a TOML table; ValueError naming `where` otherwise."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a table, got {toml_value(value)}")
    return value


def only_keys(table: Mapping[str, Any], allowed: set[str] | frozenset[str], where: str) -> None:
    unknown = sorted(set(toml_table(table, where)) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
