"""The one CSV dialect of landing files, read literally, and a row-by-row reader that never loses a row.

The contract's dialect is RFC 4180: delimiter ',', quote '"', a quote inside a quoted field doubled
(`"C""007"` is `C"007`), newlines allowed inside quoted fields, a header row, UTF-8 (a BOM is
ignored), optionally gzip-compressed (`.csv.gz`). Nothing is guessed per file: a single quote is
literal text (`'6.00'` is the five characters, which then fail the amount check), an apostrophe is a
character like any other.

Backends read a well-formed file with their own fast reader configured to exactly this dialect
(DuckDB: `duckdb.csv_reader_sql`). A file their strict reader refuses (a row with the wrong number of
fields, broken quoting, an enormous field) is read here instead, record by record with Python's
`csv` module, so only the bad records are marked (`RowError`) and every other row is kept.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# A field larger than this is a malformed row (quarantined), not a reason to refuse the file; it
# also bounds the memory one runaway field (an unterminated quote) can take.
MAX_FIELD_BYTES = 64 << 20
ROW_ERROR_COLUMN = "ff_row_error"  # staged beside the file's columns: why a record is malformed


class CsvHeaderError(ValueError):
    """The header row makes the file unreadable as a whole (the message names the problem)."""


def is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def open_text(path: Path) -> io.TextIOBase:
    """The file as text in the contract's encoding, decompressed when it is `.gz`."""
    raw = gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _reader(fh) -> "csv._reader":
    return csv.reader(fh, delimiter=",", quotechar='"', doublequote=True, strict=True)


_RESERVED = ("source_row", ROW_ERROR_COLUMN)  # staged beside the file's own columns


def column_names(fields: list[str]) -> list[str]:
    """Header fields as staged column names: trimmed, lower-cased (names are case-insensitive in
    both warehouses); an empty name becomes `column_<position>`; a name the staging table uses for
    itself gets a `file_` prefix (an extra column, reported as such)."""
    names = [f.strip().lower() or f"column_{i}" for i, f in enumerate(fields, start=1)]
    return [f"file_{n}" if n in _RESERVED else n for n in names]


def read_header(path: Path) -> list[str]:
    """The staged column names of the file's header. Raises `CsvHeaderError` when there is no
    header or a name appears twice (which column would be the contract's is then a guess)."""
    csv.field_size_limit(MAX_FIELD_BYTES)
    with open_text(path) as fh:
        try:
            fields = next(_reader(fh), [])
        except csv.Error as exc:
            raise CsvHeaderError(f"the header row is not valid CSV ({exc})") from None
    if not fields or fields == [""]:
        raise CsvHeaderError("no header row (the first line is empty)")
    names = column_names(fields)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise CsvHeaderError(f"column {name!r} appears more than once in the header; rename or drop "
                                 "the duplicate so it is clear which one is meant")
        seen.add(name)
    return names


@dataclass(frozen=True)
class RowError:
    row: int
    line: int
    problem: str

    def __str__(self) -> str:
        return f"CSV record {self.row} (from line {self.line}): {self.problem}"


def _line(path: Path, number: int) -> str:
    """Physical line `number` (1-based) of the file, for an error message (rare: read again)."""
    with open_text(path) as fh:
        for i, line in enumerate(fh, start=1):
            if i == number:
                return line.rstrip("\r\n")
    return ""


def iter_records(path: Path, width: int) -> Iterator[tuple[int, list[str | None], RowError | None]]:
    """(1-based data row, `width` values, error or None) for every record after the header.

    A malformed record keeps what it has by position (so the quarantine shows the landed text) and
    carries the error. A broken quote can swallow the lines after it into one bad record: that
    record is cut to its first line and reading resumes on the next, so the rows after it are not
    lost. Empty fields are None (as in the warehouses' readers); blank lines are skipped (they are
    no record, as in DuckDB's reader)."""
    csv.field_size_limit(MAX_FIELD_BYTES)
    row, skip = 0, 0  # physical lines to skip before parsing (after a record that broke)
    while skip is not None:
        with open_text(path) as fh:
            for _ in range(skip):
                if not fh.readline():
                    return
            reader, offset = _reader(fh), skip
            if not skip:
                next(reader, None)  # the header (read_header checked it)
            skip = None
            while True:
                first = offset + reader.line_num + 1  # the physical line the record starts on
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    row += 1
                    text = _line(path, first)
                    shown = text if len(text) <= 200 else text[:200] + "..."
                    yield row, [None] * width, RowError(row, first, f"broken quoting or field ({exc}): {shown!r}")
                    if offset + reader.line_num > first:
                        # A quote opened and not closed as CSV requires swallowed the lines after
                        # it: cut the record to its first line and read those lines again.
                        skip = first
                        break
                    continue
                if not fields:
                    continue
                row += 1
                if len(fields) == width:
                    yield row, [v if v != "" else None for v in fields], None
                    continue
                values = [v if v != "" else None for v in fields[:width]]
                values += [None] * (width - len(values))
                yield row, values, RowError(row, first, f"{len(fields)} fields where the header has {width}")


def iter_chunks(path: Path, width: int, rows: int) -> Iterator[list[tuple[int, list[str | None], str | None]]]:
    """`iter_records` in lists of at most `rows` records (bounded memory), errors as text."""
    chunk: list = []
    for n, values, error in iter_records(path, width):
        chunk.append((n, values, None if error is None else str(error)))
        if len(chunk) >= rows:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
