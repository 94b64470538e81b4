"""CSV that lands in a spreadsheet: every cell a spreadsheet would run as a formula is
written as text (OWASP CSV injection). One writer for the CLI's exports and the API's."""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Sequence
from typing import IO, Any

# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def spreadsheet_safe(value: Any, *, number: bool = False) -> str:
    """A CSV cell that a spreadsheet shows as text: a leading ' before a formula start,
    except an E.164 number in a number column."""
    text = "" if value is None else str(value)
    if number and _E164.fullmatch(text):
        return text
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class CsvWriter:
    """Writes rows as they come, every cell spreadsheet-safe; counts the rows written."""

    def __init__(
        self, stream: IO[str], columns: Sequence[str], number_columns: Collection[str] = ()
    ) -> None:
        self._writer = csv.writer(stream)
        self._numbers = [column in number_columns for column in columns]
        self._writer.writerow([spreadsheet_safe(column) for column in columns])
        self.rows = 0

    def write(self, row: Sequence[Any]) -> None:
        self._writer.writerow(
            [
                spreadsheet_safe(value, number=is_number)
                for value, is_number in zip(row, self._numbers, strict=True)
            ]
        )
        self.rows += 1
