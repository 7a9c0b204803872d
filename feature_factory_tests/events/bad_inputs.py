"""The landing folder of the bad-input suite: one file per malformation kind, with what must become
of each of its data rows. Written by hand (raw bytes), so the suite does not depend on the writer
the code under test uses.

Days: every row is on 2024-01-02 except the first row of `dup_stored`, on 2024-01-01 (ingested by
an earlier run, so its twin on 2024-01-02 is a duplicate of a stored event).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from feature_factory.events.contract import Reason

HEADER = "event_id,customer_id,event_type,channel,amount,event_ts"
TS = "2024-01-02T10:00:00Z"
BIG = "x" * 3_000_000  # one 3 MB field


@dataclass(frozen=True)
class Ok:
    """An accepted row: the values raw_events must hold (trimmed, lower-cased, parsed)."""

    event_id: str
    customer_id: str
    amount: float | None = 1.0
    event_type: str = "purchase"
    channel: str = "web"


@dataclass(frozen=True)
class Bad:
    """A quarantined row: its reason and raw text as landed (None = not checked)."""

    reason: Reason
    event_id: str | None = None
    customer_id: str | None = None
    amount: str | None = None
    detail: str | None = None  # a substring the detail must contain


@dataclass(frozen=True)
class FileRefused:
    reason: Reason
    detail: str  # a substring the detail must contain (besides the file's path)


@dataclass
class Case:
    name: str
    content: bytes | pa.Table
    rows: list[Ok | Bad] = field(default_factory=list)
    refused: FileRefused | None = None


def row(event_id, customer="c1", etype="purchase", channel="web", amount="1.0", ts=TS) -> str:
    return ",".join([event_id, customer, etype, channel, amount, ts])


def csv_bytes(*lines: str, header: str = HEADER, newline: str = "\n") -> bytes:
    return (newline.join([header, *lines]) + newline).encode()


def every_reason_rows(prefix: str) -> tuple[list[str], list[Ok | Bad]]:
    """One row per row-level reason (and some edge values that are fine), as CSV lines."""
    p = prefix
    spec = [
        (row(f"{p}ok", "c1", "Purchase", " WEB ", " 2.50 "), Ok(f"{p}ok", "c1", 2.5)),
        (row(f"{p}noamt", "c1", "browse", "mobile", ""), Ok(f"{p}noamt", "c1", None, "browse", "mobile")),
        (row("", "c1"), Bad(Reason.NULL_OR_EMPTY_KEY, None, "c1")),
        (row(f"{p}blank", "   "), Bad(Reason.NULL_OR_EMPTY_KEY, f"{p}blank")),
        (row(f"{p}badts", ts="yesterday"), Bad(Reason.UNPARSEABLE_TIMESTAMP, f"{p}badts")),
        (row(f"{p}future", ts="2030-01-01T00:00:00Z"), Bad(Reason.TIMESTAMP_IN_FUTURE, f"{p}future")),
        (row(f"{p}old", ts="2023-12-31T23:00:00Z"), Bad(Reason.TIMESTAMP_BEFORE_START, f"{p}old")),
        (row(f"{p}type", etype="purchased"), Bad(Reason.UNKNOWN_EVENT_TYPE, f"{p}type")),
        (row(f"{p}chan", channel="store"), Bad(Reason.UNKNOWN_CHANNEL, f"{p}chan")),
        (row(f"{p}nan", amount="NaN"), Bad(Reason.NON_NUMERIC_AMOUNT, f"{p}nan", amount="NaN")),
        (row(f"{p}usd", amount="12 USD"), Bad(Reason.NON_NUMERIC_AMOUNT, f"{p}usd", amount="12 USD")),
        (row(f"{p}neg", amount="-3"), Bad(Reason.NEGATIVE_AMOUNT, f"{p}neg", amount="-3")),
        (row(f"{p}twice", "c7"), Ok(f"{p}twice", "c7")),
        (row(f"{p}twice", "c8"), Bad(Reason.DUPLICATE_IN_BATCH, f"{p}twice", "c8")),
    ]
    return [line for line, _ in spec], [want for _, want in spec]


def csv_cases() -> list[Case]:
    lines, wants = every_reason_rows("r-")
    cases = [
        Case("reasons.csv", csv_bytes(*lines), wants),
        # 1: doubled quotes unescape.
        Case("doubled_quotes.csv", csv_bytes('dq-1,"C""007",purchase,web,1.0,' + TS, row("dq-2")),
             [Ok("dq-1", 'C"007'), Ok("dq-2", "c1")]),
        # 2: a newline inside a quoted field.
        Case("quoted_newline.csv", csv_bytes('nl-1,"C\n008",purchase,web,"1.0",' + TS, row("nl-2")),
             [Ok("nl-1", "C\n008"), Ok("nl-2", "c1")]),
        # 3: single quotes are literal text.
        Case("single_quotes.csv", csv_bytes(row("sq-1", "'C001'", amount="'6.00'"), row("sq-2", "'C002'")),
             [Bad(Reason.NON_NUMERIC_AMOUNT, "sq-1", "'C001'", "'6.00'"), Ok("sq-2", "'C002'")]),
        # 4: apostrophes and would-be injection are values.
        Case("apostrophes.csv", csv_bytes(row("ap-1", "'); DROP TABLE raw_events; --"), row("ap-2", "o'brien"),
                                          'ap-3,"a, \'quoted\' ""name""",purchase,web,1,' + TS),
             [Ok("ap-1", "'); DROP TABLE raw_events; --"), Ok("ap-2", "o'brien"),
              Ok("ap-3", "a, 'quoted' \"name\"")]),
        # 5: file names with glob characters are names.
        Case("glob_*.csv", csv_bytes(row("g-star")), [Ok("g-star", "c1")]),
        Case("glob_a.csv", csv_bytes(row("g-a")), [Ok("g-a", "c1")]),
        Case("glob_b.csv", csv_bytes(row("g-b")), [Ok("g-b", "c1")]),
        Case("glob_[ab].csv", csv_bytes(row("g-class")), [Ok("g-class", "c1")]),
        Case("glob_?.csv", csv_bytes(row("g-q")), [Ok("g-q", "c1")]),
        Case("glob_{a,b}.csv", csv_bytes(row("g-brace")), [Ok("g-brace", "c1")]),
        # 10: a 3 MB field is a value; the file's other rows stay.
        Case("big_field.csv", csv_bytes(row("big-1", BIG), row("big-2")), [Ok("big-1", BIG), Ok("big-2", "c1")]),
        # 10: gzip CSV is read.
        Case("events_2024-01-02.csv.gz", gzip.compress(csv_bytes(row("gz-1"), row("gz-2", amount="x"))),
             [Ok("gz-1", "c1"), Bad(Reason.NON_NUMERIC_AMOUNT, "gz-2", amount="x")]),
        # Malformed records: only they are quarantined, the rows around them stay.
        Case("ragged.csv", csv_bytes(row("rg-1"), "rg-2,c2,purchase,web", row("rg-3") + ",extra", row("rg-4")),
             [Ok("rg-1", "c1"), Bad(Reason.MALFORMED_ROW, "rg-2", "c2", detail="4 fields where the header has 6"),
              Bad(Reason.MALFORMED_ROW, "rg-3", "c1", detail="7 fields where the header has 6"), Ok("rg-4", "c1")]),
        Case("broken_quote.csv", csv_bytes(row("bq-1"), 'bq-2,"c2"x,purchase,web,1.0,' + TS, row("bq-3")),
             [Ok("bq-1", "c1"), Bad(Reason.MALFORMED_ROW, detail="broken quoting"), Ok("bq-3", "c1")]),
        Case("unterminated.csv", csv_bytes(row("ut-1"), 'ut-2,"c2,purchase,web,1.0,' + TS, row("ut-3")),
             [Ok("ut-1", "c1"), Bad(Reason.MALFORMED_ROW, detail="unexpected end of data"), Ok("ut-3", "c1")]),
        # Dialect details a real landing zone has.
        Case("crlf_bom.csv", b"\xef\xbb\xbf" + csv_bytes(row(" cr-1 ", " C9 "), newline="\r\n"), [Ok("cr-1", "C9")]),
        Case("header_case.csv", csv_bytes(row("hc-1"), header=HEADER.upper().replace(",", " , ")),
             [Ok("hc-1", "c1")]),
        Case("extra_column.csv", csv_bytes(row("xc-1") + ",hello,7", header=HEADER + ",note,source_row"),
             [Ok("xc-1", "c1")]),
        Case("odd_header.csv", csv_bytes(row("oh-1") + ",1,2",
                                         header=HEADER + ',"x"" VARCHAR); DROP TABLE raw_events; --",'),
             [Ok("oh-1", "c1")]),
        Case("headers_only_contract.csv", csv_bytes()),
        Case("dup_stored.csv", csv_bytes(row("ds-1", ts="2024-01-01T09:00:00Z"), row("ds-1", "c2")),
             [Ok("ds-1", "c1"), Bad(Reason.DUPLICATE_OF_STORED, "ds-1", "c2")]),
        # Whole files refused, each naming the file and the problem.
        Case("dup_column.csv", csv_bytes(row("dc-1") + ",2", header=HEADER + ",Amount"),
             refused=FileRefused(Reason.UNREADABLE_FILE, "column 'amount' appears more than once")),
        Case("empty.csv", b"", refused=FileRefused(Reason.UNREADABLE_FILE, "empty file")),
        Case("binary.csv", bytes(range(256)) * 4, refused=FileRefused(Reason.UNREADABLE_FILE, "binary content")),
        Case("latin1.csv", csv_bytes(row("é1")).decode().encode("latin-1"),
             refused=FileRefused(Reason.UNREADABLE_FILE, "not UTF-8")),
        Case("bad.csv.gz", b"\x1f\x8b\x08\x00 not really gzip",
             refused=FileRefused(Reason.UNREADABLE_FILE, "gzip")),
        Case("no_contract.csv", b"x,y\n1,2\n", refused=FileRefused(Reason.UNREADABLE_FILE, "no contract column")),
        Case("semicolons.csv", csv_bytes(row("sc-1").replace(",", ";"), header=HEADER.replace(",", ";")),
             refused=FileRefused(Reason.UNREADABLE_FILE, "the delimiter must be ','")),
        Case("notes.json", b"{}", refused=FileRefused(Reason.UNSUPPORTED_FILE_TYPE, "'.json'")),
    ]
    return cases


def _text_table(rows: list[list[str | None]], names: list[str] | None = None) -> pa.Table:
    names = names or HEADER.split(",")
    return pa.Table.from_arrays([pa.array([r[i] for r in rows], pa.string()) for i in range(len(names))],
                                names=names)


def parquet_cases() -> list[Case]:
    lines, wants = every_reason_rows("pq-")
    rows = [[None if v == "" else v for v in line.split(",")] for line in lines]
    typed = pa.table({
        "event_id": ["pt-1", "pt-2"], "customer_id": ["c1", "c2"], "event_type": ["refund", "browse"],
        "channel": ["mobile", "web"], "amount": pa.array([2.25, None], pa.float64()),
        "event_ts": pa.array([1704189600000000, 1704189600000000], pa.timestamp("us", tz="UTC")),
    })
    return [
        Case("reasons.parquet", _text_table(rows), wants),
        Case("typed.parquet", typed, [Ok("pt-1", "c1", 2.25, "refund", "mobile"), Ok("pt-2", "c2", None, "browse")]),
        Case("values.parquet", _text_table([
            ["pv-1", 'C"007', "purchase", "web", "1.0", TS], ["pv-2", "C\n008", "purchase", "web", "1.0", TS],
            ["pv-3", "'); DROP TABLE raw_events; --", "purchase", "web", "'6.00'", TS],
            ["pv-4", BIG, "purchase", "web", "1", TS]]),
            [Ok("pv-1", 'C"007'), Ok("pv-2", "C\n008"),
             Bad(Reason.NON_NUMERIC_AMOUNT, "pv-3", "'); DROP TABLE raw_events; --", "'6.00'"), Ok("pv-4", BIG)]),
        Case("glob_*.parquet", _text_table([["pg-star", "c1", "purchase", "web", "1", TS]]), [Ok("pg-star", "c1")]),
        Case("glob_a.parquet", _text_table([["pg-a", "c1", "purchase", "web", "1", TS]]), [Ok("pg-a", "c1")]),
        Case("glob_[ab].parquet", _text_table([["pg-class", "c1", "purchase", "web", "1", TS]]),
             [Ok("pg-class", "c1")]),
        Case("dup_column.parquet", _text_table([["pd-1", "c1", "purchase", "web", "1", TS, "2"]],
                                               HEADER.split(",") + ["AMOUNT"]),
             refused=FileRefused(Reason.UNREADABLE_FILE, "column 'amount' appears more than once")),
        Case("broken.parquet", b"PAR1 definitely not parquet", refused=FileRefused(Reason.UNREADABLE_FILE, "")),
    ]


def write_cases(landing: Path, cases: list[Case]) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    for case in cases:
        path = landing / case.name
        if isinstance(case.content, pa.Table):
            pq.write_table(case.content, path)
        else:
            path.write_bytes(case.content)
