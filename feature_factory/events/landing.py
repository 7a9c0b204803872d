"""The landing folder as files: listing, fingerprints, cheap sanity checks, the days a file covers.

No warehouse and no Dagster here: the sensor and the ingestion both use these.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from feature_factory.events.contract import LANDING_FORMATS

_FILENAME_DATE = re.compile(r"^events_(\d{4}-\d{2}-\d{2})")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LandingFile:
    path: Path
    rel: str  # POSIX path relative to the landing folder: the `source_file` everywhere
    size: int
    mtime_ns: int
    # The inode change time and number: no tool can set them back (`cp -p`, `rsync -t` and archive
    # unpacking restore mtime, and a same-size rewrite keeps the size), so a rewrite always shows.
    ctime_ns: int = 0
    inode: int = 0

    @property
    def fmt(self) -> str | None:
        """`csv` (also gzip-compressed `.csv.gz`), `parquet`, or None for a file the contract does
        not accept."""
        name = self.path.name.lower()
        if name.endswith(".csv.gz"):
            return "csv"
        return LANDING_FORMATS.get(self.path.suffix.lower())

    @property
    def stat_key(self) -> str:
        """Changes whenever the file is rewritten, even with its mtime restored; cheap (no read).
        Equal keys mean the content was not rewritten; different keys only mean it may have been
        (the content hash decides)."""
        return f"{self.size}:{self.mtime_ns}:{self.ctime_ns}:{self.inode}"


def list_landing_files(landing_dir: Path) -> list[LandingFile]:
    """Every file under `landing_dir` (recursively), sorted by relative path.

    Hidden files and folders (leading '.') are skipped: that is where writers keep partial files
    before an atomic rename. Everything else is listed, so a stray file becomes a recorded error
    rather than being silently ignored. A missing folder is an empty landing.
    """
    root = Path(landing_dir)
    if not root.exists():
        return []
    if not root.is_dir():
        raise NotADirectoryError(f"landing folder {root} is not a directory")
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        st = path.stat()
        files.append(LandingFile(path, rel.as_posix(), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    return sorted(files, key=lambda f: f.rel)


def inspect_file(f: LandingFile) -> tuple[str, str | None]:
    """(content fingerprint, problem or None), reading the file once.

    The fingerprint is the first 16 hex digits of the SHA-256 of the bytes. The problem check is
    what a warehouse CSV reader would otherwise accept silently: an empty file, binary bytes (NUL),
    or text that is not UTF-8 (garbage bytes would otherwise load as one odd column).
    """
    digest = hashlib.sha256()
    problem: str | None = "empty file (0 bytes)" if f.size == 0 else None
    decoder = codecs.getincrementaldecoder("utf-8")() if f.fmt == "csv" else None
    gunzip = [zlib.decompressobj(wbits=31)] if f.fmt == "csv" and f.path.name.lower().endswith(".gz") else None
    offset = 0
    with open(f.path, "rb") as fh:
        while raw := fh.read(_CHUNK):
            digest.update(raw)
            if decoder is None or problem is not None:
                continue  # only the hash is still needed
            try:
                for chunk in (_gunzip(gunzip, raw) if gunzip is not None else (raw,)):
                    problem = _text_problem(decoder, chunk, offset)
                    offset += len(chunk)
                    if problem:
                        break
            except zlib.error as exc:
                problem = f"not a valid gzip file ({exc})"
    if gunzip is not None and problem is None and not gunzip[0].eof:
        problem = "truncated gzip file (the compressed stream ends early)"
    if decoder is not None and problem is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            problem = "not UTF-8 text (truncated multi-byte character at end of file)"
    return digest.hexdigest()[:16], problem


def _text_problem(decoder, chunk: bytes, offset: int) -> str | None:
    if b"\x00" in chunk:
        return f"binary content (NUL byte near byte {offset + chunk.index(0)}), not CSV text"
    try:
        decoder.decode(chunk)
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (invalid byte at offset {offset + exc.start})"
    return None


def _gunzip(state: list, raw: bytes):
    """Decompress one chunk of a gzip stream in bounded pieces (a small bomb never expands in
    memory at once); concatenated members are one stream, as gzip tools read them."""
    while raw:
        if state[0].eof:
            state[0] = zlib.decompressobj(wbits=31)
        d = state[0]
        yield d.decompress(raw, _CHUNK)
        while d.unconsumed_tail:
            yield d.decompress(d.unconsumed_tail, _CHUNK)
        raw = d.unused_data


def filename_date(rel: str) -> dt.date | None:
    """The day in the naming convention `events_YYYY-MM-DD*.csv|parquet`, if the name follows it."""
    match = _FILENAME_DATE.match(Path(rel).name)
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def scan_dates(f: LandingFile, column: str = "event_ts") -> tuple[dt.date, dt.date] | None:
    """(min, max) UTC event day in the file by an in-memory DuckDB scan of its time `column`; None if
    unreadable or no parseable time. Used only when the file name does not say the day."""
    import duckdb

    if f.fmt is None or f.size == 0:
        return None
    from feature_factory.warehouse import landing_csv
    from feature_factory.warehouse.duckdb import csv_reader_sql, literal_path

    try:
        reader = (csv_reader_sql(f.path, landing_csv.read_header(f.path), skip_malformed=True) if f.fmt == "csv"
                  else f"read_parquet('{literal_path(f.path).replace(chr(39), chr(39) * 2)}')")
    except Exception:  # unreadable: the ingestion names the problem
        return None
    quoted = '"' + column.replace('"', '""') + '"'
    ts = f"CAST(timezone('UTC', TRY_CAST(CAST({quoted} AS VARCHAR) AS TIMESTAMPTZ)) AS DATE)"
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        row = con.execute(f"SELECT min({ts}), max({ts}) FROM {reader}").fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()
    if not row or row[0] is None:
        return None
    return row[0], row[1]


def file_dates(f: LandingFile) -> tuple[dt.date, dt.date] | None:
    """The days a file covers: its name when it follows the convention, else a scan."""
    day = filename_date(f.rel)
    return (day, day) if day else scan_dates(f)
