"""Stream rows out of uploaded CSV and XLSX files (DNC lists, lead lists).

Everything here is a generator over an open file: nothing loads a whole upload into memory,
so a 10M-row CSV is read in constant memory. The format is decided by the file's content, not
its extension. Every problem with the file itself (wrong format, damaged workbook, bad
encoding, malformed CSV) is raised as `UnreadableFile`, whose message is a sentence for a
campaign manager; it may surface mid-iteration, so consumers must finish iterating before
they write anything. The format is checked when an ``iter_*`` function is called (a PNG or
a truncated workbook fails at once); the file is opened for reading only when iteration
starts and is closed when it ends or the iterator is closed or dropped.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Literal, NamedTuple

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

__all__ = ["UnreadableFile", "iter_first_column", "iter_records", "iter_rows", "sniff_format"]

_HEAD_BYTES = 8192  # first block: signatures and NUL check
_SAMPLE_BYTES = 32768  # CSV sample for the delimiter sniffer
_MAX_LINE_CHARS = 1 << 20  # longer physical lines are not a table; bounds memory
_BLOCK_CHARS = 1 << 16  # CSV text is read and split into lines this much at a time
_LOCATE_CHUNK = 1 << 20
_DELIMITERS = ",;\t|"
_ACCEPTED = "only CSV and XLSX files are accepted"

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "a legacy Excel .xls workbook (or a password-protected Office file)",
    ),
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
)
# Text that is not a table: web apps' "Export to Excel" often produces HTML or XML files.
_MARKUP: tuple[tuple[bytes, str], ...] = (
    (b"<?xml", "an XML document"),
    (b"<!doctype html", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"<table", "an HTML page"),
)
_BOMS: tuple[tuple[bytes, str], ...] = (  # UTF-32 first: its LE BOM starts like UTF-16's
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_SEP_LINE = re.compile(r"sep=([^\r\n])(?:\r\n|\r|\n|$)")  # Excel's delimiter directive
_HEADER_SEPARATORS = re.compile(r"[\s\-]+")
_DIGIT = re.compile(r"\d")

# What a damaged XLSX raises, at open or while its sheet is streamed.
_TRUNCATED_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, struct.error)
_XLSX_ERRORS = (
    *_TRUNCATED_ZIP_ERRORS,
    InvalidFileException,
    KeyError,
    SyntaxError,  # xml.etree ParseError (and lxml's XMLSyntaxError) from a damaged part
    ValueError,
    TypeError,
    IndexError,
    RuntimeError,  # zipfile: encrypted member; NotImplementedError: unknown compression
)


class UnreadableFile(ValueError):
    """The file cannot be read as CSV or XLSX.

    ``str(exc)`` is a sentence for a campaign manager naming the file and the cause, e.g.
    "spring.xlsx is not a complete XLSX workbook (truncated or damaged zip)".
    """


_Rows = Generator[tuple[int, list[str]], None, None]


class _Format(NamedTuple):
    kind: Literal["csv", "xlsx"]
    encoding: str = "utf-8"  # CSV only: codec for the bytes after the BOM
    bom_len: int = 0


def sniff_format(path: Path) -> Literal["csv", "xlsx"]:
    """Tell CSV from XLSX by content (not extension); raise UnreadableFile for anything else."""
    return _detect(Path(path)).kind


def iter_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(row_number, cells)`` for every non-blank row of the first sheet / the CSV.

    Row numbers are 1-based as a spreadsheet user sees them (blank rows are skipped but
    counted). Cells are strings: None -> '', text stripped, numbers/bools/dates via ``str()``.
    """
    path = Path(path)
    return _rows(path, _detect(path), max_col=None)


def iter_first_column(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(row_number, value)`` of column A of the first sheet / the CSV.

    Rows with a blank first cell are skipped, other columns and sheets are ignored, and the
    first non-blank value is skipped as a header when it contains no digit ('Phone Number').
    """
    path = Path(path)
    return _first_column(_rows(path, _detect(path), max_col=1))


def iter_records(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(row_number, {column: value})`` for the data rows of a table with a header row.

    Header names match ``columns`` case-insensitively, with spaces/dashes read as underscores
    ('First Name' -> 'first_name'); unknown header columns are ignored and requested columns
    missing from the header give ''. A header with none of ``columns`` raises UnreadableFile.
    """
    if isinstance(columns, str):
        raise TypeError("columns must be a sequence of column names, not a string")
    if not columns:
        raise ValueError("columns must not be empty")
    path = Path(path)
    return _records(path, _rows(path, _detect(path), max_col=None), tuple(columns))


# --- format detection -------------------------------------------------------------------


def _detect(path: Path) -> _Format:
    name = path.name
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    if not head:
        raise UnreadableFile(f"{name} is empty")
    if head.startswith(_ZIP_MAGIC):
        _check_workbook_zip(path)
        return _Format("xlsx")
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            raise UnreadableFile(f"{name} looks like {what}; {_ACCEPTED}")
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return _Format("csv", encoding, len(bom))
    start = head.lstrip().lower()
    for signature, what in _MARKUP:
        if start.startswith(signature):
            raise UnreadableFile(f"{name} looks like {what}, not a table; {_ACCEPTED}")
    if b"\x00" in head:
        raise UnreadableFile(
            f"{name} looks like a binary file (it contains NUL bytes), not text; {_ACCEPTED}"
        )
    return _Format("csv")


def _check_workbook_zip(path: Path) -> None:
    """Return for an XLSX zip; raise UnreadableFile for any other or a damaged zip."""
    name = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "xl/workbook.xml" in names:
                return
            if "xl/workbook.bin" in names:
                what = "an Excel binary workbook (.xlsb)"
            elif "mimetype" in names and archive.read("mimetype").startswith(
                b"application/vnd.oasis.opendocument"
            ):
                what = "an OpenDocument file (.ods/.odt)"
            elif "word/document.xml" in names:
                what = "a Word document"
            elif "ppt/presentation.xml" in names:
                what = "a PowerPoint presentation"
            else:
                what = "a zip archive without a spreadsheet in it"
    except _TRUNCATED_ZIP_ERRORS as exc:
        raise _incomplete_workbook(name) from exc
    raise UnreadableFile(f"{name} looks like {what}; {_ACCEPTED}")


def _incomplete_workbook(name: str) -> UnreadableFile:
    return UnreadableFile(f"{name} is not a complete XLSX workbook (truncated or damaged zip)")


# --- rows -------------------------------------------------------------------------------


def _rows(path: Path, fmt: _Format, max_col: int | None) -> _Rows:
    if fmt.kind == "xlsx":
        return _xlsx_rows(path, max_col)
    return _csv_rows(path, fmt, max_col)


def _first_column(rows: _Rows) -> Iterator[tuple[int, str]]:
    with closing(rows):  # an early stop closes the file at once
        for number, cells in rows:
            value = cells[0] if cells else ""
            if value:
                if _DIGIT.search(value):  # the first value is data, not a header
                    yield number, value
                break
        for number, cells in rows:
            if cells and cells[0]:
                yield number, cells[0]


def _records(
    path: Path, rows: _Rows, columns: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    with closing(rows):  # an early stop closes the file at once
        header = next(rows, None)
        if header is None:
            return  # no rows at all: nothing to import
        yield from _data_records(path.name, header, rows, columns)


def _data_records(
    name: str, header: tuple[int, list[str]], rows: _Rows, columns: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    header_number, names = header
    positions: dict[str, int] = {}
    for index, label in enumerate(names):
        positions.setdefault(_header_key(label), index)
    wanted = [(column, positions.get(_header_key(column))) for column in columns]
    if all(index is None for _, index in wanted):
        found = ", ".join(repr(label[:40]) for label in names[:12] if label)
        raise UnreadableFile(
            f"{name} has no header row with the expected columns: "
            f"row {header_number} has {found or 'no names'}, "
            f"expected one or more of {', '.join(columns)}"
        )
    for number, cells in rows:
        width = len(cells)
        record = {
            column: cells[index] if index is not None and index < width else ""
            for column, index in wanted
        }
        yield number, record


def _header_key(label: str) -> str:
    return _HEADER_SEPARATORS.sub("_", label.strip().casefold())


# --- XLSX -------------------------------------------------------------------------------


def _xlsx_rows(path: Path, max_col: int | None) -> _Rows:
    name = path.name
    # Opened here and passed as a file object: openpyxl then skips its extension check (a
    # workbook named .csv still works) and the handle is closed even if loading fails.
    with path.open("rb") as fh:
        workbook = None
        last_row: int | None = None  # set once rows are streamed, for error messages
        try:
            workbook = load_workbook(fh, read_only=True, data_only=True)
            sheets = workbook.worksheets
            if not sheets:
                raise UnreadableFile(f"{name} has no worksheets")
            sheet = sheets[0]
            # The stored <dimension> is often wrong (some writers emit A1): without this,
            # read-only mode silently stops at the row it claims is the last one.
            sheet.reset_dimensions()
            values = sheet.iter_rows(max_col=max_col, values_only=True)
            last_row = 0
            for last_row, row in enumerate(values, 1):  # last_row is read by the excepts
                cells = [_cell_text(value) for value in row]
                if any(cells):
                    yield last_row, cells
        except UnreadableFile:
            raise
        except _TRUNCATED_ZIP_ERRORS as exc:
            raise _incomplete_workbook(name) from exc
        except KeyError as exc:
            raise _damaged_workbook(name, "a required part is missing") from exc
        except SyntaxError as exc:
            raise _damaged_workbook(name, "invalid XML", last_row) from exc
        except _XLSX_ERRORS as exc:
            raise _damaged_workbook(name, "unreadable data", last_row) from exc
        finally:
            if workbook is not None:
                workbook.close()


def _damaged_workbook(name: str, cause: str, last_row: int | None = None) -> UnreadableFile:
    where = "" if last_row is None else f" near row {last_row + 1}"
    return UnreadableFile(f"{name} is a damaged XLSX workbook ({cause}{where})")


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return str(value)  # int, float (repr: '3055550134.0'), bool, datetime


# --- CSV --------------------------------------------------------------------------------


def _csv_rows(path: Path, fmt: _Format, max_col: int | None) -> _Rows:
    name = path.name
    delimiter, has_sep_line = _csv_layout(path, fmt)
    with path.open("rb") as raw:
        raw.seek(fmt.bom_len)
        # Universal newlines: CRLF and old Mac CR files both arrive as "\n"-ended lines.
        text = io.TextIOWrapper(raw, encoding=fmt.encoding, errors="strict", newline=None)
        # strict: a quote that is never closed must not silently swallow the rest of the file
        reader = csv.reader(
            _bounded_lines(text, name),
            delimiter=delimiter,
            quotechar='"',
            doublequote=True,
            skipinitialspace=True,
            strict=True,
        )
        try:
            if has_sep_line:
                next(reader, None)  # Excel hides it; data starts at row 1
            for number, row in enumerate(reader, 1):
                cells = list(map(str.strip, row if max_col is None else row[:max_col]))
                if any(cells):
                    yield number, cells
        except UnicodeDecodeError as exc:
            raise _not_text(path, fmt) from exc
        except csv.Error as exc:
            raise UnreadableFile(
                f"{name} is not a valid CSV file (line {reader.line_num}: {_csv_cause(exc)})"
            ) from exc


def _csv_layout(path: Path, fmt: _Format) -> tuple[str, bool]:
    """(delimiter, whether the first line is Excel's 'sep=X' directive) from a sample."""
    with path.open("rb") as raw:
        raw.seek(fmt.bom_len)
        data = raw.read(_SAMPLE_BYTES)
    sample = data.decode(fmt.encoding, "replace")  # decoding errors are reported later
    if len(data) == _SAMPLE_BYTES:  # drop the cut-off last line
        cut = max(sample.rfind("\n"), sample.rfind("\r"))
        if cut > 0:
            sample = sample[:cut]
    sep = _SEP_LINE.match(sample)
    if sep and sep.group(1) in _DELIMITERS:
        return sep.group(1), True
    # blank lines make every delimiter look inconsistent to the sniffer
    sample = "\n".join(line for line in sample.splitlines() if line.strip())
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:  # e.g. a single column: no delimiter to find
        delimiter = ","
    return (delimiter if delimiter in _DELIMITERS else ","), False


def _bounded_lines(text: io.TextIOWrapper, name: str) -> Iterator[str]:
    """Physical lines for csv.reader, refusing NUL and lines too long to be a table row.

    Reads blocks and splits them in C: a readline() per row would cost as much as parsing.
    """
    number, partial = 0, ""
    while block := text.read(_BLOCK_CHARS):
        if "\x00" in block:
            line = number + (partial + block).count("\n", 0, (partial + block).index("\x00")) + 1
            raise UnreadableFile(
                f"{name} looks like a binary file (NUL byte on line {line}); {_ACCEPTED}"
            )
        lines = (partial + block).split("\n")
        partial = lines.pop()
        if len(partial) >= _MAX_LINE_CHARS:
            raise UnreadableFile(
                f"{name} is not a valid CSV file (line {number + len(lines) + 1} is longer "
                f"than {_MAX_LINE_CHARS} characters)"
            )
        number += len(lines)
        yield from (line + "\n" for line in lines)
    if partial:
        yield partial


def _csv_cause(exc: csv.Error) -> str:
    message = str(exc)
    if "field larger than field limit" in message:
        return (
            f"a cell is longer than {csv.field_size_limit()} characters, "
            'probably an opening quote " that is never closed'
        )
    if "unexpected end of data" in message:
        return 'the file ends inside a quoted cell: an opening quote " is never closed'
    if "expected after" in message:
        return f"unexpected text after a closing quote ({message})"
    return message


def _not_text(path: Path, fmt: _Format) -> UnreadableFile:
    label = "UTF-8" if fmt.encoding == "utf-8" else fmt.encoding[:6].upper()
    where = _locate_decode_error(path, fmt)
    if where is None:  # the file changed under us
        detail = ""
    else:
        line, offset, byte = where
        what = f"invalid byte 0x{byte:02x}" if fmt.encoding == "utf-8" else "invalid data"
        detail = f" ({what} near line {line}, byte {offset})"
    return UnreadableFile(f"{path.name} is not {label} text{detail}; save it as CSV UTF-8")


def _locate_decode_error(path: Path, fmt: _Format) -> tuple[int, int, int] | None:
    """(line, byte offset, first bad byte) of the first undecodable bytes, in one pass."""
    decoder = codecs.getincrementaldecoder(fmt.encoding)("strict")
    line, after_cr = 1, False
    with path.open("rb") as raw:
        position = raw.seek(fmt.bom_len)  # absolute offset of the next chunk
        while True:
            chunk = raw.read(_LOCATE_CHUNK)
            pending = decoder.getstate()[0]
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                data = pending + chunk
                line += _line_breaks(data[: exc.start].decode(fmt.encoding, "replace"), after_cr)
                return line, position - len(pending) + exc.start, data[exc.start]
            if not chunk:
                return None
            line += _line_breaks(text, after_cr)
            after_cr = text.endswith("\r") if text else after_cr
            position += len(chunk)


def _line_breaks(text: str, after_cr: bool) -> int:
    """Line breaks (\\n, \\r or \\r\\n) in text; after_cr: the previous text ended with \\r."""
    breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
    return breaks - 1 if after_cr and text.startswith("\n") else breaks
