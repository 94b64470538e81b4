"""Peak memory of uploads: a DNC upload at 1M and 10M rows, and spreadsheet bombs.

Each upload runs in a fresh child process (`dialer dnc import` into a new SQLite file),
which reports its own peak RSS. Targets: 10M rows peak under 50 MB above 1M rows peak; every
bomb refused (or read) with a peak under 200 MB, whatever it inflates to.

The bombs are small XLSX files built here (also used by tests/test_sheet_bombs.py): each
part is deflated as it is written from repeated chunks, so building one takes little memory.
Each is read at the size the bug report gave and just under the cap that stops it.

Run: `python -m bench.memory`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path

from bench.upload import write_upload
from compliance import sheets

TARGET_GROWTH_MB = 50
TARGET_BOMB_MB = 200
SIZES = (1_000_000, 10_000_000)
GB = 1 << 30
MB = 1 << 20

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPES = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPES}.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    f'ContentType="{_TYPES}.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    f'ContentType="{_TYPES}.sharedStrings+xml"/></Types>'
)
_ROOT_RELS = (
    f'<Relationships xmlns="{_PACKAGE}"><Relationship Id="rId1" '
    f'Type="{_OFFICE}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    f'<workbook xmlns="{_MAIN}" xmlns:r="{_OFFICE}"><sheets>'
    '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    f'<Relationships xmlns="{_PACKAGE}">'
    f'<Relationship Id="rId1" Type="{_OFFICE}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_OFFICE}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
PHONE_HEADER = b'<row r="1"><c r="A1" t="inlineStr"><is><t>phone</t></is></c></row>'
_NUMBER_ROW = b'<row r="2"><c r="A2" t="inlineStr"><is><t>3055550134</t></is></c></row>'


def repeated(piece: bytes, total: int) -> Iterator[bytes]:
    """`piece` repeated to `total` bytes (rounded down to whole pieces), in ~1 MB chunks."""
    per_chunk = max(1, MB // len(piece))
    count = total // len(piece)
    while count > 0:
        now = min(per_chunk, count)
        yield piece * now
        count -= now


def write_workbook(
    path: Path, rows: Iterable[bytes], shared_strings: Iterable[bytes] = (b"",)
) -> Path:
    """A minimal XLSX whose sheet's rows and shared strings are deflated from chunks."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        strings = chain((f'<sst xmlns="{_MAIN}">'.encode(),), shared_strings, (b"</sst>",))
        for member, chunks in (
            ("xl/worksheets/sheet1.xml", _worksheet(rows)),
            ("xl/sharedStrings.xml", strings),
        ):
            with archive.open(member, "w", force_zip64=True) as out:
                for chunk in chunks:
                    out.write(chunk)
    return path


def _worksheet(rows: Iterable[bytes]) -> Iterator[bytes]:
    yield f'<worksheet xmlns="{_MAIN}"><sheetData>'.encode()
    yield from rows
    yield b"</sheetData></worksheet>"


def cell_bomb(path: Path, chars: int) -> Path:
    """Row 2 holds one inline-string cell of `chars` digits."""
    start = (PHONE_HEADER, b'<row r="2"><c r="A2" t="inlineStr"><is><t>')
    return write_workbook(path, chain(start, repeated(b"9", chars), (b"</t></is></c></row>",)))


def whitespace_bomb(path: Path, size: int) -> Path:
    """`size` bytes of spaces before the row holding a number."""
    return write_workbook(path, chain((PHONE_HEADER,), repeated(b" ", size), (_NUMBER_ROW,)))


def rows_bomb(path: Path, rows: int) -> Path:
    """`rows` rows: the header, a number, then empty rows."""
    empty_rows = repeated(b"<row/>", (rows - 2) * 6)
    return write_workbook(path, chain((PHONE_HEADER, _NUMBER_ROW), empty_rows))


def shared_strings_bomb(path: Path, size: int) -> Path:
    """`size` bytes of shared strings, each a phone number; the sheet uses the first."""
    rows = (PHONE_HEADER, b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>')
    return write_workbook(path, rows, repeated(b"<si><t>3055550134</t></si>", size))


def sparse_bomb(path: Path, row: int) -> Path:
    """A number on row 2 and another on row `row`."""
    far = f'<row r="{row}"><c r="A{row}"><v>3055550135</v></c></row>'.encode()
    return write_workbook(path, (PHONE_HEADER, _NUMBER_ROW, far))


# (name, builder, the report's size, a size the reader goes through up to its cap)
BOMBS: tuple[tuple[str, Callable[[Path, int], Path], int, int], ...] = (
    ("one huge cell", cell_bomb, 3 * GB, sheets.MAX_SHEET_BYTES - MB),
    ("whitespace sheet", whitespace_bomb, 3 * GB, sheets.MAX_SHEET_BYTES - MB),
    ("empty rows", rows_bomb, 50_000_000, sheets.MAX_ROWS),
    ("shared strings", shared_strings_bomb, 3 * GB, sheets.MAX_SHARED_STRINGS_BYTES - MB),
    ("sparse row", sparse_bomb, 2_000_000_000, sheets.MAX_ROWS),
)

# The peak is VmHWM, this process's own since exec: ru_maxrss can report the parent's.
_CHILD = """\
import re, sys
from pathlib import Path
from dialer.cli import main
try:
    main(['dnc', 'import', sys.argv[1]])
except SystemExit as done:
    code = done.code
peak = re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())
print(f"{code or 0} {int(peak.group(1)) / 1024}")
"""


def import_in_child(upload: Path, database: Path) -> tuple[int, float, float, str]:
    """(exit code, peak RSS in MB, seconds, error) of one `dialer dnc import` in a child."""
    env = {
        "DIALER_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "DIALER_LOG_LEVEL": "WARNING",
        "PATH": "",
    }
    subprocess.run(
        [sys.executable, "-m", "dialer", "init"], env=env, check=True, capture_output=True
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(upload)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    code, peak = done.stdout.strip().splitlines()[-1].split()
    error = done.stderr.strip().rpartition("\n")[2]
    return int(code), float(peak), elapsed, error


def upload_growth(scratch: Path) -> None:
    peaks = []
    for size in SIZES:
        upload = scratch / f"upload-{size}.csv"
        write_upload(upload, size)
        code, peak, elapsed, _ = import_in_child(upload, scratch / f"dialer-{size}.db")
        assert code == 0, f"upload of {size:,} rows failed"
        upload.unlink()
        peaks.append(peak)
        print(
            f"memory: {size:,} rows uploaded in {elapsed:.1f}s "
            f"({size / elapsed:,.0f} rows/s), peak RSS {peak:.1f} MB",
            flush=True,
        )
    growth = peaks[-1] - peaks[0]
    verdict = "ok" if growth < TARGET_GROWTH_MB else "ABOVE TARGET"
    print(
        f"memory: peak RSS growth from {SIZES[0]:,} to {SIZES[-1]:,} rows: {growth:+.1f} MB "
        f"(target < {TARGET_GROWTH_MB} MB) {verdict}"
    )


def bombs(scratch: Path) -> None:
    for name, build, *sizes in BOMBS:
        for size in sizes:
            upload = build(scratch / "bomb.xlsx", size)
            kilobytes = upload.stat().st_size / 1024
            code, peak, elapsed, error = import_in_child(upload, scratch / "bomb.db")
            (scratch / "bomb.db").unlink()
            verdict = "ok" if peak < TARGET_BOMB_MB else "ABOVE TARGET"
            outcome = "imported" if code == 0 else f"refused: {error}"
            print(
                f"memory: bomb {name} ({size:,}, file {kilobytes:,.0f} KB) in {elapsed:.1f}s, "
                f"peak RSS {peak:.1f} MB (target < {TARGET_BOMB_MB} MB) {verdict}; {outcome}",
                flush=True,
            )
        upload.unlink()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dialer-bench-") as scratch:
        upload_growth(Path(scratch))
        bombs(Path(scratch))


if __name__ == "__main__":
    main()
