"""The OpenAPI 3.1 document, built from the declared routes and the pydantic models that
validate their requests (JSON Schema 2020-12, as OpenAPI 3.1 takes it)."""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from dialer.api.errors import PROBLEM_JSON
from dialer.api.idempotency import KEY_HEADER, MAX_KEY
from dialer.api.routing import JSON, Endpoint
from dialer.api.schemas import Problem
from dialer.api.sessions import COOKIE, CSRF_HEADER, UNSAFE

REF = "#/components/schemas/{model}"
BASE = "/api/v1"
DESCRIPTION = """\
The dialer's REST API. Every request but the health check, sign-in and this document
carries `Authorization: Bearer TOKEN` (`dialer tokens create --user NAME` issues one) and
acts as the token's user, within that user's role and company; or a browser session's
cookie (POST /session signs in), whose changes carry its CSRF token in X-CSRF-Token.
Errors are RFC 9457 problem documents with a stable `code`. Lists are cursor-paged:
follow `next_url`. A POST that creates takes an `Idempotency-Key` header: a retry with the
same key and request gets the first answer and changes nothing more."""


def document(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    endpoints = list(endpoints)
    models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(Problem, "serialization"): None}
    for endpoint in endpoints:
        if endpoint.body is not None:
            models[endpoint.body, "validation"] = None
        if isinstance(endpoint.response, type):
            models[endpoint.response, "serialization"] = None
    refs, definitions = models_json_schema(list(models), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "dialer", "version": "1", "description": DESCRIPTION},
        "servers": [{"url": BASE}],
        "security": [{"bearer": []}, {"cookieAuth": []}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token, dlr_<id>_<secret>.",
                },
                "cookieAuth": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": COOKIE,
                    "description": (
                        "A browser session, from POST /session. A POST, PUT, PATCH or DELETE "
                        f"made with it carries the session's csrf_token in {CSRF_HEADER}."
                    ),
                },
            },
        },
    }


def _operation(endpoint: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": endpoint.name, "summary": endpoint.summary}
    if endpoint.public:
        operation["security"] = []
    parameters = [
        *_parameters(endpoint.path_model, "path"),
        *_parameters(endpoint.query, "query"),
    ]
    if endpoint.idempotent:
        parameters.append(
            {
                "name": KEY_HEADER,
                "in": "header",
                "required": False,
                "description": "A random value (a UUID): a retry with it gets the first answer.",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY},
            }
        )
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        schema = refs[endpoint.body, "validation"]
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": schema}}}
    operation["responses"] = {
        str(endpoint.status): _success(endpoint, refs),
        **{
            str(status): _problem(status, refs[Problem, "serialization"])
            for status in sorted(_problem_statuses(endpoint))
        },
    }
    return operation


def _parameters(model: type[BaseModel] | None, where: str) -> list[dict[str, Any]]:
    if model is None:
        return []
    properties = model.model_json_schema(ref_template=REF)["properties"]
    parameters = []
    for name, field in model.model_fields.items():
        schema = {k: v for k, v in properties[name].items() if k not in ("title", "description")}
        parameter = {
            "name": name,
            "in": where,
            "required": where == "path" or field.is_required(),
            "schema": schema,
        }
        if field.description:
            parameter["description"] = field.description
        parameters.append(parameter)
    return parameters


def _success(endpoint: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": HTTPStatus(endpoint.status).phrase}
    if isinstance(endpoint.response, type):
        answer["content"] = {JSON: {"schema": refs[endpoint.response, "serialization"]}}
    elif endpoint.response is not None:
        answer["content"] = {JSON: {"schema": dict(endpoint.response)}}
    return answer


def _problem_statuses(endpoint: Endpoint) -> set[int]:
    statuses = {500, *endpoint.errors}
    if not endpoint.public:
        statuses.add(401)
        if endpoint.method in UNSAFE:  # csrf_failed, with a session
            statuses.add(403)
    if endpoint.path_model is not None:
        statuses.add(404)
    if endpoint.query is not None:
        statuses.add(400)
    if endpoint.body is not None:
        statuses |= {400, 413, 415, 422}
    if endpoint.idempotent:
        statuses |= {400, 409, 422}
    return statuses


def _problem(status: int, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": schema}},
    }
