"""The API's request and response bodies (pydantic v2): they validate requests, check
responses, and are the schemas of the OpenAPI document, so code and document cannot drift.

Responses carry the services' views (one JSON shape per resource, as `--json` prints it):
instants as ISO-8601 text.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from compliance.accounts import MAX_USER_NAME
from compliance.hours import check_instant
from compliance.passwords import MAX_PASSWORD
from compliance.tokens import MAX_LABEL, MAX_TOKEN_ID

Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


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


# Text stored as given (a reason, a source, a name): no control characters but tabs and
# line breaks. PostgreSQL refuses a NUL in text, and an audit trail prints as entered.
PlainText = Annotated[str, Field(pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]


class PageQuery(BaseModel):
    """A list's page: follow `next_url` (or pass `next_cursor` back) for the next one."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(100, ge=1, le=1000, description="Items in the page.")
    cursor: str | None = Field(None, max_length=200, description="From a page's next_cursor.")


class TokenCreate(Request):
    user: str = Field(min_length=1, max_length=MAX_USER_NAME, description="Whom it acts as.")
    label: str = Field("", max_length=MAX_LABEL, description="What it is for.")
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

    company: str | None = Field(None, min_length=1, max_length=200)
    user: str = Field(min_length=1, max_length=MAX_USER_NAME)
    # Longer than any valid password (MAX_PASSWORD), short enough to bound the hashing.
    password: str = Field(min_length=1, max_length=4 * MAX_PASSWORD)


class Session(BaseModel):
    """The signed-in user and the session's CSRF token: send it as X-CSRF-Token with every
    POST, PUT, PATCH and DELETE made with the session cookie."""

    user: Me
    csrf_token: str
    expires_at: Instant = Field(description="When the session ends, at the latest.")
