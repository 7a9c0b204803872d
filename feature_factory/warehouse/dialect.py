"""The SQL text that differs between engines, as objects that need no connection.

A `Dialect` builds SQL fragments (parsing untrusted text, quantiles, hashing, date arithmetic,
as-of joins) and says how its engine treats DDL; it holds no connection and imports neither Dagster
nor a driver, so SQL builders and their tests can use one on its own. A `Warehouse` (base.py) has
one as `warehouse.dialect` and keeps connections, catalog lookups and atomic writes; its
fragment methods (`warehouse.try_double(...)`) delegate here, so callers need not change.
"""

from __future__ import annotations

from collections.abc import Sequence


class Dialect:
    """Portable defaults (the ANSI / Snowflake spelling); engines override what differs."""

    name = "portable"
    # Whether CREATE/ALTER TABLE take part in a transaction (DuckDB) or commit on their own
    # (Snowflake): where they do, a schema change is swapped in together with the data.
    transactional_ddl = True

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def try_double(self, expr: str) -> str:
        """SQL turning VARCHAR `expr` into DOUBLE, NULL when it is not a number."""
        return f"TRY_CAST({expr} AS DOUBLE)"

    def try_timestamp(self, expr: str) -> str:
        """SQL turning an ISO-8601 VARCHAR `expr` into TIMESTAMP (UTC, no zone), NULL when unparseable."""
        raise NotImplementedError(f"{self.name}: try_timestamp")

    def try_strptime(self, expr: str, fmt: str) -> str:
        """SQL turning VARCHAR `expr` into TIMESTAMP by the strftime-style `fmt` (`%Y%m%d`), NULL
        when it does not match."""
        raise NotImplementedError(f"{self.name}: try_strptime")

    def quantiles(self, expr: str, qs: Sequence[float]) -> list[str]:
        """Aggregate expressions for the exact (interpolated, `PERCENTILE_CONT`) quantiles of `expr`."""
        return [f"PERCENTILE_CONT({float(q)!r}) WITHIN GROUP (ORDER BY {expr})" for q in qs]

    def sha256_hex(self, expr: str) -> str:
        """SQL: the lower-case hex SHA-256 of VARCHAR `expr` (Python's `hashlib.sha256(...).hexdigest()`)."""
        return f"SHA2({expr}, 256)"

    def approx_count_distinct(self, expr: str) -> str:
        """Aggregate: HyperLogLog estimate of the number of distinct non-null values of `expr`."""
        return f"APPROX_COUNT_DISTINCT({expr})"

    def unit_hash(self, exprs: Sequence[str], mod: int) -> str:
        """A deterministic pseudo-random DOUBLE in [0, 1) from `exprs` (resolution 1 / `mod`), for
        sampling rows reproducibly (a re-run picks the same rows)."""
        return f"CAST(ABS(MOD(HASH({', '.join(exprs)}), {int(mod)})) AS DOUBLE) / {int(mod)}"

    def quantile_grid(self, expr: str, m: int) -> str | None:
        """One aggregate giving the nearest-rank quantile grid of `expr`'s non-null values as JSON
        text `[q_0, ..., q_m]`, q_k = x_(max(1, ceil(k n / m))) (NULL when there is no value), or
        None when this backend has no list aggregates (callers then rank the values with
        ROW_NUMBER and pick the order statistics with a join, which every backend runs)."""
        return None

    def order_statistics(self, expr: str, m: int, percents: Sequence[int]) -> str | None:
        """One aggregate giving a list of `expr`'s non-null values at nearest ranks: the grid of
        `quantile_grid` (m + 1 values), then one value per percent p at rank max(1, ceil(p n / 100))
        (one sort for both; the sketch's sample, sketch.py), or None without list aggregates."""
        return None

    def sorted_values(self, expr: str) -> str | None:
        """Aggregate: `expr`'s non-null values as one sorted list, or None without list aggregates.
        With it the exact statistics take every order statistic of a group from that one sort
        (`sorted_quantiles`, `sorted_grid`, `sorted_distinct_count`)."""
        return None

    def sorted_quantiles(self, values: str, qs: Sequence[float]) -> str:
        """A list of the exact quantiles of `quantiles` (bit for bit), from a `sorted_values` list."""
        raise NotImplementedError(f"{self.name} has no list aggregates (sorted_values is None)")

    def sorted_grid(self, values: str, count: str, m: int) -> str:
        """`quantile_grid`'s JSON text from a `sorted_values` list of `count` values."""
        raise NotImplementedError(f"{self.name} has no list aggregates (sorted_values is None)")

    def sorted_distinct_count(self, values: str) -> str:
        """COUNT(DISTINCT ...) of the values of a `sorted_values` list (0 when there is none)."""
        raise NotImplementedError(f"{self.name} has no list aggregates (sorted_values is None)")

    def asof_left_join(self, left: str, right: str, on: str, left_time: str, right_time: str) -> str | None:
        """FROM-clause fragment joining each `left` row to the newest `right` row matching `on`
        whose `right_time` is strictly before `left_time` (NULL columns when there is none), or None
        when this backend has no as-of join that runs everywhere it is tested (callers then write
        a range join + `QUALIFY ROW_NUMBER()`, which every backend runs)."""
        return None

    def date_add_days(self, date_expr: str, days: str | int) -> str:
        """`date_expr` plus `days` days, as a DATE."""
        return f"CAST(DATEADD(day, {days}, {date_expr}) AS DATE)"

    def date_diff_days(self, start_expr: str, end_expr: str) -> str:
        """Whole days from `start_expr` to `end_expr` (both DATE)."""
        return f"DATEDIFF(day, {start_expr}, {end_expr})"

    def epoch_ms_to_timestamp(self, ms_expr: str) -> str:
        """TIMESTAMP (UTC, no zone) from a number of milliseconds since 1970-01-01 UTC."""
        return f"DATEADD(millisecond, CAST({ms_expr} AS BIGINT), CAST('1970-01-01 00:00:00' AS TIMESTAMP))"


class DuckDBDialect(Dialect):
    name = "duckdb"

    def sha256_hex(self, expr: str) -> str:
        return f"sha256({expr})"

    def try_timestamp(self, expr: str) -> str:
        # TIMESTAMPTZ accepts offsets; normalise to UTC and drop the zone.
        return f"CAST(timezone('UTC', TRY_CAST({expr} AS TIMESTAMPTZ)) AS TIMESTAMP)"

    def try_strptime(self, expr: str, fmt: str) -> str:
        return f"CAST(TRY_STRPTIME({expr}, {_quote(fmt)}) AS TIMESTAMP)"

    def quantiles(self, expr: str, qs: Sequence[float]) -> list[str]:
        # One list aggregate indexed per quantile: DuckDB computes identical aggregates once, so
        # the values are gathered and partitioned once instead of once per quantile (~4x faster).
        fractions = "[" + ", ".join(repr(float(q)) for q in qs) + "]"
        return [f"quantile_cont({expr}, {fractions})[{i}]" for i in range(1, len(qs) + 1)]

    def unit_hash(self, exprs: Sequence[str], mod: int) -> str:
        # hash() is an unsigned 64-bit integer here (no ABS needed).
        return f"CAST(hash({', '.join(exprs)}) % {int(mod)} AS DOUBLE) / {int(mod)}"

    def quantile_grid(self, expr: str, m: int) -> str | None:
        # Sort each group's values once and pick the m + 1 ranks (integer arithmetic, so the ranks
        # are exact for any n): ~6x cheaper than ranking every row with a window and joining.
        values = f"list_sort(list({expr}) FILTER (WHERE {expr} IS NOT NULL))"
        ranks = f"[greatest(1, (grid_k * COUNT({expr}) + {m - 1}) // {m}) for grid_k in range({m + 1})]"
        return f"CAST(list_select({values}, {ranks}) AS VARCHAR)"

    def order_statistics(self, expr: str, m: int, percents: Sequence[int]) -> str | None:
        values = f"list_sort(list({expr}) FILTER (WHERE {expr} IS NOT NULL))"
        ranks = [f"greatest(1, (grid_k * COUNT({expr}) + {m - 1}) // {m}) for grid_k in range({m + 1})"]
        at = ", ".join(f"greatest(1, ({int(p)} * COUNT({expr}) + 99) // 100)" for p in percents)
        return f"list_select({values}, [{ranks[0]}] || [{at}])"

    def sorted_values(self, expr: str) -> str | None:
        # quantile_cont, the grid's list_sort and COUNT(DISTINCT) each gathered a group's values
        # again (three holistic aggregates in one hash aggregate): one sorted list serves all three.
        return f"list_sort(list({expr}) FILTER (WHERE {expr} IS NOT NULL))"

    def sorted_quantiles(self, values: str, qs: Sequence[float]) -> str:
        # DuckDB's own quantile_cont over the sorted list: the same interpolation code (fused
        # multiply-add included), so the values equal `quantiles` exactly; selection on sorted
        # input is linear.
        fractions = "[" + ", ".join(repr(float(q)) for q in qs) + "]"
        return f"list_aggregate({values}, 'quantile_cont', {fractions})"

    def sorted_grid(self, values: str, count: str, m: int) -> str:
        ranks = f"[greatest(1, (grid_k * {count} + {m - 1}) // {m}) for grid_k in range({m + 1})]"
        return f"CAST(list_select({values}, {ranks}) AS VARCHAR)"

    def sorted_distinct_count(self, values: str) -> str:
        return f"COALESCE(list_unique({values}), 0)"

    def asof_left_join(self, left: str, right: str, on: str, left_time: str, right_time: str) -> str | None:
        # A sort-merge per key instead of a range join + window: ~2x faster on 1M labels.
        return f"{left} ASOF LEFT JOIN {right} ON {on} AND {left_time} > {right_time}"

    def date_add_days(self, date_expr: str, days: str | int) -> str:
        return f"CAST({date_expr} + CAST({days} AS INTEGER) AS DATE)"

    def date_diff_days(self, start_expr: str, end_expr: str) -> str:
        return f"datediff('day', {start_expr}, {end_expr})"

    def epoch_ms_to_timestamp(self, ms_expr: str) -> str:
        return f"epoch_ms(CAST({ms_expr} AS BIGINT))"


class SnowflakeDialect(Dialect):
    name = "snowflake"
    transactional_ddl = False  # Snowflake commits the open transaction before and after every DDL statement

    def try_double(self, expr: str) -> str:
        # TRY_CAST from VARCHAR is Snowflake's and fakesnow's common ground.
        return f"TRY_CAST({expr} AS DOUBLE)"

    def try_timestamp(self, expr: str) -> str:
        # ISO-8601 with or without an offset, converted to UTC. fakesnow cannot run
        # TRY_TO_TIMESTAMP_TZ; the test suite's fakesnow warehouse overrides this one fragment.
        return f"CAST(CONVERT_TIMEZONE('UTC', TRY_TO_TIMESTAMP_TZ({expr})) AS TIMESTAMP_NTZ)"

    def try_strptime(self, expr: str, fmt: str) -> str:
        return f"TRY_TO_TIMESTAMP_NTZ({expr}, {_quote(snowflake_format(fmt))})"


# strftime directives -> Snowflake's date/time format elements (the ones a landing file uses).
_SNOWFLAKE_FORMAT = {"%Y": "YYYY", "%y": "YY", "%m": "MM", "%d": "DD", "%H": "HH24", "%I": "HH12", "%M": "MI",
                     "%S": "SS", "%f": "FF", "%b": "MON", "%p": "AM", "%%": "%"}


def snowflake_format(fmt: str) -> str:
    """A strftime-style format (`%Y%m%d`) in Snowflake's elements (`YYYYMMDD`); a directive it has
    no element for is a ValueError naming it."""
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%":
            d = fmt[i:i + 2]
            if d not in _SNOWFLAKE_FORMAT:
                raise ValueError(f"timestamp format {fmt!r}: {d!r} has no Snowflake equivalent "
                                 f"(supported: {', '.join(_SNOWFLAKE_FORMAT)})")
            out.append(_SNOWFLAKE_FORMAT[d])
            i += 2
        else:
            out.append(f'"{fmt[i]}"' if fmt[i].isalpha() else fmt[i])
            i += 1
    return "".join(out)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


DUCKDB = DuckDBDialect()
SNOWFLAKE = SnowflakeDialect()
