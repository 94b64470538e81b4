"""How commands write what may be long: files replaced only whole, listings streamed and
paged (CSV cells are made spreadsheet-safe by dialer.csvfiles)."""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from dialer.cli.support import print_table

# Newest rows a listing shows unless --limit N or --all says otherwise.
DEFAULT_LIMIT = 100
# Rows per table printed: a listing of any length is printed as tables of this many rows.
T = TypeVar("T")
TABLE_PAGE = 1_000


@contextmanager
def output_file(path: Path | None) -> Iterator[IO[str]]:
    """Standard output, or a new file in `path`'s folder that replaces `path` only when
    the block succeeds: on any error the old file is untouched and the new one removed."""
    if path is None:
        yield sys.stdout
        return
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with open(descriptor, "w", newline="", encoding="utf-8") as stream:
            yield stream
        os.chmod(partial, _file_mode(path))
        os.replace(partial, path)
    except BaseException:
        os.unlink(partial)
        raise


def _file_mode(path: Path) -> int:
    """The mode of the file being replaced, else what the umask gives a new file
    (mkstemp makes its file private)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


async def write_json_array(items: AsyncIterable[Any]) -> None:
    """Items as one JSON array on standard output, an item a line, written as they come."""
    separator = "[\n"
    async for item in items:
        sys.stdout.write(separator + json.dumps(item, default=str))
        separator = ",\n"
    sys.stdout.write("[]\n" if separator == "[\n" else "\n]\n")


async def print_table_pages(columns: Sequence[str], rows: AsyncIterable[Sequence[Any]]) -> int:
    """Rows as tables of TABLE_PAGE rows, each printed once full; returns the row count."""
    page: list[Sequence[Any]] = []
    count = 0
    async for row in rows:
        page.append(row)
        count += 1
        if len(page) == TABLE_PAGE:
            print_table(columns, page)
            page = []
    if page:
        print_table(columns, page)
    return count


def limit_options(noun: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--limit N` and `--all`, given to the command as one `limit` (None: every row)."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def with_limit(*args: Any, limit: int | None, show_all: bool, **kwargs: Any) -> Any:
            if show_all and limit is not None:
                raise click.UsageError("give --limit N or --all, not both")
            return command(*args, limit=None if show_all else limit or DEFAULT_LIMIT, **kwargs)

        with_all = click.option(
            "--all", "show_all", is_flag=True, help=f"Every {noun}, not only the newest."
        )
        with_n = click.option(
            "--limit",
            type=click.IntRange(min=1),
            metavar="N",
            help=f"Only the newest N {noun}s (default {DEFAULT_LIMIT}), oldest first.",
        )
        return with_n(with_all(with_limit))

    return decorate


async def print_listing(
    items: AsyncIterable[T],
    as_json: bool,
    view: Callable[[T], Any],
    columns: Sequence[str],
    row: Callable[[T], Sequence[Any]],
    empty: str,
) -> None:
    """Items as they come: a JSON array of their views, or tables of their rows (`empty`
    when there are none)."""
    if as_json:
        await write_json_array(view(item) async for item in items)
    elif not await print_table_pages(columns, (row(item) async for item in items)):
        click.echo(empty)


def hint_if_more(more: bool, limit: int | None, noun: str) -> None:
    """On standard error: the listing left older rows out, and how to see them."""
    if more:
        shown = f"{limit} {noun}" + ("" if limit == 1 else "s")
        click.echo(
            f"Showing the newest {shown}; there are older ones "
            "(--limit N shows more, --all every one).",
            err=True,
        )
