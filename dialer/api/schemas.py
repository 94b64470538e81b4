"""The API's request and response bodies (pydantic v2): they validate requests, check
responses, and are the schemas of the OpenAPI document, so code and document cannot drift.

Responses carry the services' views (one JSON shape per resource, as `--json` prints it):
instants as ISO-8601 text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from compliance import Source
from compliance.accounts import MAX_USER_NAME
from compliance.hours import check_instant
from compliance.passwords import MAX_PASSWORD
from compliance.tokens import MAX_LABEL, MAX_TOKEN_ID
from dialer.app import utcnow


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# An instant in an answer: ISO-8601 text with its offset (a view's datetime is written so).
Instant = Annotated[str, BeforeValidator(_iso), Field(json_schema_extra={"format": "date-time"})]


# Text stored or looked up as given (a name, a reason, a source): no control characters but
# tabs and line breaks. PostgreSQL refuses a NUL in text, and an audit trail prints as entered.
Text = Annotated[str, Field(pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]


class Request(BaseModel):
    """A request body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class FieldError(BaseModel):
    field: str = Field(description="Where, dotted: `expires_at`, `numbers.3`; `body` for all.")
    message: str
    type: str = Field(description="pydantic's error type, e.g. `missing`, `string_type`.")


class Problem(BaseModel):
    """An error (RFC 9457), with a stable `code` to branch on."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(examples=["not_found", "validation_failed", "not_permitted"])
    errors: list[FieldError] | None = Field(None, description="validation_failed: each field.")


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]


class Me(BaseModel):
    """The user a request acts as."""

    name: str
    role: Literal["admin", "manager", "viewer"]
    can_remove_dnc: bool
    company: str


class PageQuery(BaseModel):
    """A list's page: follow `next_url` (or pass `next_cursor` back) for the next one."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(100, ge=1, le=1000, description="Items in the page.")
    cursor: str | None = Field(None, max_length=200, description="From a page's next_cursor.")


class TokenCreate(Request):
    user: Text = Field(min_length=1, max_length=MAX_USER_NAME, description="Whom it acts as.")
    label: Text = Field("", max_length=MAX_LABEL, description="What it is for.")
    expires_at: AwareDatetime | None = Field(
        None, description="When it stops working (default: never); an instant still to come."
    )

    @field_validator("expires_at")
    @classmethod
    def _in_range(cls, value: AwareDatetime | None) -> AwareDatetime | None:
        if value is not None:
            check_instant(value)
        return value


class TokenPath(BaseModel):
    id: int = Field(ge=1, le=MAX_TOKEN_ID)


class TokenCreated(BaseModel):
    """A new token: `token` is its whole text, shown this once only."""

    id: int
    token: str
    user: str
    label: str
    expires_at: Instant | None


class Token(BaseModel):
    """A token as listed: never its secret."""

    id: int
    user: str
    label: str
    state: Literal["active", "revoked", "expired"]
    created_at: Instant
    created_by: str
    expires_at: Instant | None
    revoked_at: Instant | None
    revoked_by: str | None
    last_used_at: Instant | None


class TokenPage(BaseModel):
    data: list[Token]
    next_cursor: str | None
    next_url: str | None


class SessionCreate(Request):
    """A sign-in: the user's name and password (of `company`, by default the server's)."""

    company: Text | None = Field(None, min_length=1, max_length=200)
    user: Text = Field(min_length=1, max_length=MAX_USER_NAME)
    # Longer than any valid password (MAX_PASSWORD), short enough to bound the hashing.
    password: str = Field(min_length=1, max_length=4 * MAX_PASSWORD)


class Session(BaseModel):
    """The signed-in user and the session's CSRF token: send it as X-CSRF-Token with every
    POST, PUT, PATCH and DELETE made with the session cookie."""

    user: Me
    csrf_token: str
    expires_at: Instant = Field(description="When the session ends, at the latest.")


# --- the DNC and DNT lists --------------------------------------------------------------

ListName = Literal["dnc", "dnt"]
SourceName = Literal[tuple(source.value for source in Source)]  # type: ignore[valid-type]
# Numbers one request may add or check: `dialer dnc import` takes any more.
MAX_NUMBERS = 1000
MAX_REASON = 500
MAX_NUMBER_TEXT = 100


def _still_to_come(value: datetime) -> datetime:
    check_instant(value)
    if value <= utcnow():
        raise ValueError("has passed: give an instant still to come")
    return value


# An entry's expiry: an instant still to come, with its UTC offset.
Expiry = Annotated[AwareDatetime, AfterValidator(_still_to_come)]
Reason = Annotated[Text, Field(max_length=MAX_REASON)]


class DncAdd(Request):
    numbers: list[str] = Field(
        min_length=1,
        max_length=MAX_NUMBERS,
        description="In any format; all or none.",
        examples=[["(305) 555-0134", "+1 212 555 0123"]],
    )
    list_name: ListName = Field("dnc", alias="list", description="dnt blocks texts only.")
    reason: Reason = Field("", description="Why they are blocked.")
    expires_at: Expiry | None = Field(None, description="When they stop blocking (default: never).")


class DncAdded(BaseModel):
    """What an addition did: each number (E.164) added or found already listed."""

    added: list[str]
    already_listed: list[str]


class DncCheck(Request):
    numbers: list[str] = Field(
        min_length=1,
        max_length=MAX_NUMBERS,
        description="Any format.",
        examples=[["(305) 555-0134", "2125550123"]],
    )
    channel: Literal["voice", "sms"] = "voice"


class NumberCheck(BaseModel):
    """One input's answer, as `dialer dnc check --json` prints it: `expires_at` when every
    entry blocking it expires, `error` when it is no valid number."""

    input: str
    number: str | None
    valid: bool
    blocked: bool
    lists: list[ListName]
    expires_at: Instant | None = None
    error: str | None = None


class NumberChecks(BaseModel):
    data: list[NumberCheck]


class DncEntry(BaseModel):
    """A live entry, in the export's columns."""

    number: str
    list_name: ListName = Field(alias="list")
    source: SourceName
    reason: str
    added_by: str
    added_at: Instant
    expires_at: Instant | None


class DncEvent(BaseModel):
    """One audit event, as `dialer dnc log --json` shows it: an add or removal of a number,
    or a change of a lead's own channels."""

    id: int
    at: Instant
    action: str
    list_name: ListName | None
    number: str | None
    lead_id: int | None
    channels: str | None
    source: str
    reason: str
    actor: str


class DncRecord(BaseModel):
    """A number on each list, and the newest of its audit events (oldest first):
    `more_history` says older ones are in GET /dnc/events?number=."""

    number: str
    entries: list[DncEntry]
    history: list[DncEvent]
    more_history: bool


class DncQuery(PageQuery):
    list_name: ListName | None = Field(None, alias="list", description="One list (default both).")
    number: str | None = Field(None, max_length=MAX_NUMBER_TEXT, description="Any format.")
    source: SourceName | None = None
    added_after: AwareDatetime | None = Field(None, description="Added after this instant.")


class DncPage(BaseModel):
    data: list[DncEntry]
    next_cursor: str | None
    next_url: str | None


class NumberPath(BaseModel):
    # A number has a digit: /dnc/export and the other fixed paths never match.
    number: str = Field(
        min_length=1, max_length=MAX_NUMBER_TEXT, pattern="[0-9]", examples=["+13055550134"]
    )


class DncRemoveQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    list_name: ListName = Field("dnc", alias="list")
    reason: Reason = Field("", description="Why it may be contacted again (required).")


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    list_name: ListName | None = Field(None, alias="list", description="One list (default both).")


class EventQuery(PageQuery):
    number: str | None = Field(None, max_length=MAX_NUMBER_TEXT, description="Any format.")


class EventPage(BaseModel):
    data: list[DncEvent]
    next_cursor: str | None
    next_url: str | None


class ImportForm(Request):
    """An upload's fields beside its file."""

    list_name: ListName = Field("dnc", alias="list")
    reason: Reason = Field("", description="Recorded on every entry (default: upload of FILE).")
    # A form field is text or absent, never null.
    expires_at: Annotated[
        Expiry | None, WithJsonSchema({"type": "string", "format": "date-time"})
    ] = Field(None, description="When the entries stop blocking (default: never).")


class InvalidRow(BaseModel):
    row: int
    value: str
    error: str


class ImportSummary(BaseModel):
    """What an upload did, as `dialer dnc import --json` prints it (the first invalid rows
    in detail, all of them counted)."""

    read: int
    invalid: list[InvalidRow]
    invalid_count: int
    added: int
    already_listed: int
    duplicates_in_file: int
