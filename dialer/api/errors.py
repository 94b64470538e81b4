"""Every error of the API as an RFC 9457 problem document (application/problem+json) with a
stable `code`: the domain's refusals (mapped once, in REFUSALS), aiohttp's own 404, 405 and
413, and anything unexpected (logged, answered 500 without details). Never an HTML page or
a traceback."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from aiohttp import web

from campaigns import InvalidDefinition, InvalidTransition, NoStatuses, UnknownCampaign
from campaigns.inbound import ReviewRefused, UnknownMessage
from campaigns.outcomes import UnknownAttempt, UnknownStatus
from compliance import (
    InvalidBlackout,
    InvalidLead,
    InvalidNumber,
    InvalidUser,
    NotPermitted,
    RemovalRefused,
    UnknownCompany,
    UnreadableFile,
)
from compliance.accounts import InvalidCountries, InvalidReply, LastAdmin, UnknownUser
from compliance.blackouts import UnknownBlackout
from compliance.leads import LeadNumberTaken
from compliance.numbers import NumberOwnedElsewhere
from compliance.passwords import InvalidPassword
from compliance.tokens import TokenRefused, UnknownToken
from dialer.database import DatabaseNotInitialized, DatabaseUnavailable
from dialer.files import UnreadableText
from dialer.services import InvalidNumbers
from dialer.services.leads import UnknownLead

log = structlog.get_logger("dialer.api")
PROBLEM_JSON = "application/problem+json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The domain's refusals: the status and code each is answered with, its message the detail.
# Another company's resource is "not found": its existence is never revealed.
REFUSALS: Mapping[type[Exception], tuple[int, str]] = {
    NotPermitted: (403, "not_permitted"),
    UnknownToken: (404, "not_found"),
    UnknownCampaign: (404, "not_found"),
    UnknownAttempt: (404, "not_found"),
    UnknownCompany: (404, "not_found"),
    UnknownLead: (404, "not_found"),
    UnknownStatus: (422, "unknown_status"),
    InvalidLead: (422, "invalid_lead"),
    LeadNumberTaken: (409, "number_taken"),
    InvalidNumber: (422, "invalid_number"),
    InvalidNumbers: (422, "invalid_number"),
    RemovalRefused: (422, "reason_required"),
    InvalidUser: (422, "invalid_user"),
    InvalidBlackout: (422, "invalid_blackout"),
    InvalidDefinition: (422, "invalid_definition"),
    UnreadableFile: (422, "unreadable_file"),
    UnreadableText: (422, "unreadable_file"),
    TokenRefused: (422, "token_refused"),
    InvalidTransition: (409, "invalid_transition"),
    NoStatuses: (409, "no_statuses"),
    ReviewRefused: (409, "review_refused"),
    UnknownMessage: (404, "not_found"),
    UnknownBlackout: (404, "not_found"),
    UnknownUser: (404, "not_found"),
    LastAdmin: (409, "last_admin"),
    InvalidPassword: (422, "invalid_password"),
    InvalidCountries: (422, "invalid_countries"),
    InvalidReply: (422, "invalid_reply"),
    NumberOwnedElsewhere: (409, "number_owned_elsewhere"),
    DatabaseUnavailable: (503, "database_unavailable"),
    DatabaseNotInitialized: (503, "database_unavailable"),
}

# aiohttp's own errors (no route, wrong method, body too large ...), by status.
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def problem_type(code: str) -> str:
    """The problem type's URI: stable, one per code."""
    return f"urn:dialer:problem:{code}"


class Problem(Exception):
    """An error answered as a problem document; `errors` names what was wrong, field by
    field, for validation_failed."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: Sequence[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.errors = list(errors)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        body: dict[str, Any] = {
            "type": problem_type(self.code),
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors:
            body["errors"] = self.errors
        return web.Response(
            status=self.status,
            text=json.dumps(body),
            content_type=PROBLEM_JSON,
            headers=self.headers,
        )


def refusal(error: Exception) -> Problem | None:
    """The problem a domain refusal is answered with; None for any other error."""
    for kind in type(error).__mro__:
        if kind in REFUSALS:
            status, code = REFUSALS[kind]
            return Problem(status, code, str(error))
    return None


def _from_http(error: web.HTTPException) -> Problem:
    code = _HTTP_CODES.get(error.status, HTTPStatus(error.status).phrase.lower().replace(" ", "_"))
    headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
    detail = error.text.removeprefix(f"{error.status}: ") if error.text else error.reason
    return Problem(error.status, code, detail or error.reason, headers=headers)


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error of the API, as a problem document."""
    try:
        return await handler(request)
    except Problem as problem:
        return problem.response()
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _from_http(error).response()
    except Exception as error:
        refused = refusal(error)
        if refused is not None:
            return refused.response()
        log.exception("api.failed", method=request.method, path=request.path)
        return Problem(500, "internal_error", "the server failed; it was logged").response()
