"""Reading the text files people write by hand: settings, definitions, scenarios."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class UnreadableText(ValueError):
    """A file that is not readable UTF-8 text or TOML; ``str()`` names the file and the cause."""


def read_text(path: Path) -> str:
    """The file's text, decoded as UTF-8 (a byte-order mark, as Notepad writes, is dropped)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableText(f"cannot read {path}: {error.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise UnreadableText(
            f"{path} is not UTF-8 text (byte 0x{data[error.start]:02X} on line {line}); "
            "save it as UTF-8"
        ) from None


def read_toml(path: Path) -> dict[str, Any]:
    """The file's TOML tables; a syntax error names the file, line and column."""
    try:
        return tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as error:
        raise UnreadableText(f"{path}: {error}") from None
