"""Multipart uploads (multipart/form-data), streamed: the `file` part is written to a
temporary file a chunk at a time, so memory stays flat whatever its size, and removed when
the request ends, whatever happens. The other parts are short text fields, validated by
the route's model (dialer.api.routing). The JSON body limit does not apply: an upload has
its own, MAX_UPLOAD."""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import BadHttpMessage

from dialer.api.errors import Problem

MULTIPART = "multipart/form-data"
FILE_FIELD = "file"
MAX_UPLOAD = 512 * 1024 * 1024
MAX_FIELD = 4 * 1024
CHUNK = 256 * 1024
# What of a client's file name is kept: it names the file in messages and reasons.
_UNSAFE = re.compile(r"[^\w .,()+-]")
MAX_NAME = 120
DEFAULT_NAME = "upload"


@dataclass(frozen=True, slots=True)
class Upload:
    """A received upload: the file (named as its sender named it), and the text fields."""

    path: Path
    name: str
    fields: dict[str, str]


@asynccontextmanager
async def received(request: web.Request) -> AsyncIterator[Upload]:
    """The request's upload, its file removed on leaving; 415, 413, 400 or 422 problems
    for a request that is no upload, too large, malformed, or without a file."""
    if request.content_type != MULTIPART:
        raise Problem(415, "unsupported_media_type", f"send the file as {MULTIPART}")
    if (request.content_length or 0) > MAX_UPLOAD:
        raise _too_large()
    with tempfile.TemporaryDirectory(prefix="dialer-upload-") as folder:
        yield await _receive(request, Path(folder))


async def _receive(request: web.Request, folder: Path) -> Upload:
    path: Path | None = None
    fields: dict[str, str] = {}
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.name:
                raise _malformed("every part is a named field")
            if part.name in fields or (part.name == FILE_FIELD and path is not None):
                raise _malformed(f"the field {part.name!r} is given twice")
            if part.name == FILE_FIELD:
                name = safe_name(part.filename)
                path = folder / name
                await _save(part, path)
            else:
                fields[part.name] = await _text(part)
    except (ValueError, AssertionError, BadHttpMessage) as error:  # aiohttp's: a broken body
        raise _malformed(f"the body is not multipart/form-data: {error}") from error
    if path is None:
        raise Problem(
            422,
            "validation_failed",
            f"the form has no {FILE_FIELD!r} field: send the file in it",
            errors=[{"field": FILE_FIELD, "message": "Field required", "type": "missing"}],
        )
    return Upload(path, path.name, fields)


def safe_name(sent: str | None) -> str:
    """The client's file name (percent-decoded: some clients encode it) without any
    folder, or characters a path or a message should not carry; DEFAULT_NAME when nothing
    is left."""
    base = PureWindowsPath(unquote(sent or "")).name  # either slash ends a folder
    cleaned = _UNSAFE.sub("_", base)[:MAX_NAME].strip(" .")
    return cleaned or DEFAULT_NAME


async def _save(part: BodyPartReader, path: Path) -> None:
    size = 0
    with path.open("wb") as file:
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > MAX_UPLOAD:
                raise _too_large()
            file.write(chunk)


async def _text(part: BodyPartReader) -> str:
    value = b""
    while chunk := await part.read_chunk(MAX_FIELD):
        value += chunk
        if len(value) > MAX_FIELD:
            raise _malformed(f"the field {part.name!r} is longer than {MAX_FIELD:,} bytes")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _malformed(f"the field {part.name!r} is not UTF-8 text") from error


def _malformed(detail: str) -> Problem:
    return Problem(400, "malformed_upload", detail)


def _too_large() -> Problem:
    return Problem(413, "payload_too_large", f"an upload has at most {MAX_UPLOAD:,} bytes")
