"""Typed remediation patches: what a fix does, with validated parameters, rendered to SQL.

A patch never carries SQL text. It carries a feature name and a few numbers; its SQL is rendered
here, at use time, from those typed values only after they pass validation against the catalog:
the feature exists and is not retired, its name is a plain identifier (`quote_ident`), and every
number is finite, in the feature's declared range (catalog expectations) and integral for integer
features. The same classes re-validate rows read back from the warehouse (`patch_from_record`), so
tampered parameters are refused rather than executed.

Ids are content hashes of (feature, action, baseline version, params). Parameters are a function of
the baseline version (its p01/p50/p99), so the same drift on the same baseline yields the same id on
every day it persists and is proposed once; a new baseline version yields a new id. The alert date
is evidence, not identity. A changed parameter changes the id, which is how tampering with a stored
row is detected.

Patches have no `effective_from`: an active patch applies to every snapshot read through the patch
layer, so training sets and serving see the same transform (a date-scoped patch would create
training/serving skew). Rollback removes it for all dates.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from feature_factory.catalog import Catalog, DType, FeatureSpec
from feature_factory.warehouse.sql import quote_ident, sql_literal


class PatchValidationError(ValueError):
    """A patch refused: the message names the patch, the feature and the offending value."""


MAX_MAP_ENTRIES = 100
_SOURCE_FILE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_./-]*$")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _number(feature: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PatchValidationError(f"{feature}: parameter {name} must be a number, got {_short(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise PatchValidationError(f"{feature}: parameter {name} must be finite, got {_short(value)}")
    return number


@dataclass(frozen=True)
class Patch:
    """Base class. Subclasses declare `action`, their typed fields, `params()` and `expression()`."""

    feature: str
    baseline_version: int

    action: ClassVar[str] = ""
    # False for patches on the model or the baseline: feature values are left as they are.
    changes_data: ClassVar[bool] = True
    # Fixed composition order when several patches are active on one feature.
    order: ClassVar[int] = 0
    description: ClassVar[str] = ""
    param_keys: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.feature, str):
            raise PatchValidationError(f"feature name must be a string, got {_short(self.feature)}")
        try:
            quote_ident(self.feature)
        except ValueError:
            raise PatchValidationError(
                f"refused {self.action} patch: feature name {_short(self.feature)} is not a plain "
                "lower-case identifier"
            ) from None
        if isinstance(self.baseline_version, bool) or not isinstance(self.baseline_version, int):
            raise PatchValidationError(
                f"{self.feature}: baseline_version must be an integer, got {_short(self.baseline_version)}"
            )
        self._check_params()

    # -- to override ----------------------------------------------------------------------------
    def _check_params(self) -> None:
        """Catalog-independent checks (types, finiteness, ordering)."""

    def params(self) -> dict[str, Any]:
        return {}

    def expression(self, column_sql: str, spec: FeatureSpec) -> str:
        return column_sql

    def row_expression(self, column_sql: str, spec: FeatureSpec, row_prefix: str = "") -> str:
        """`expression`, for patches that also read other columns of the row (`row_prefix` is the
        qualifier of the customer_features row, e.g. `f.`)."""
        return self.expression(column_sql, spec)

    def _check_against(self, spec: FeatureSpec) -> None:
        """Catalog-dependent checks (declared range, integrality)."""

    # -- shared ---------------------------------------------------------------------------------
    @property
    def patch_id(self) -> str:
        payload = json.dumps(
            {"feature": self.feature, "action": self.action,
             "baseline_version": self.baseline_version, "params": self.params()},
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def validate(self, catalog: Catalog) -> FeatureSpec:
        """The feature's spec, or `PatchValidationError` if the patch may not apply to it."""
        try:
            spec = catalog.get(self.feature)
        except KeyError:
            raise PatchValidationError(
                f"refused {self.action} patch on {self.feature!r}: unknown feature (not in the catalog)"
            ) from None
        if not spec.computed:
            raise PatchValidationError(
                f"refused {self.action} patch on {self.feature!r}: the feature is retired"
            )
        self._check_against(spec)
        return spec

    def render(self, column_sql: str, catalog: Catalog, row_prefix: str = "") -> str:
        """The patched SQL expression over `column_sql` (validated first, always)."""
        return self.row_expression(column_sql, self.validate(catalog), row_prefix)

    def render_review_sql(self, catalog: Catalog, table: str = "customer_features", key: str = "customer_id") -> str:
        """The exact SQL this patch applies, for a reviewer, with a leading `/* REVIEW */` marker."""
        spec = self.validate(catalog)
        name = quote_ident(self.feature)
        header = (
            f"/* REVIEW */ -- patch {self.patch_id}: {self.action} on {name} "
            f"(baseline v{self.baseline_version}): {self.description}\n"
        )
        if not self.changes_data:
            return header + f"-- no SQL runs on feature values; {name} is served unchanged"
        return header + (
            f"SELECT {quote_ident(key)}, snapshot_date, {self.row_expression(name, spec)} AS {name}\n"
            f"FROM {quote_ident(table)}"
        )

    def _in_range(self, spec: FeatureSpec, name: str, value: float) -> None:
        exp = spec.expectations
        if exp.min is not None and value < exp.min:
            raise PatchValidationError(
                f"refused {self.action} patch on {self.feature}: {name}={value!r} is below the "
                f"feature's allowed minimum {exp.min!r}"
            )
        if exp.max is not None and value > exp.max:
            raise PatchValidationError(
                f"refused {self.action} patch on {self.feature}: {name}={value!r} is above the "
                f"feature's allowed maximum {exp.max!r}"
            )
        if spec.dtype is DType.INT and not float(value).is_integer():
            raise PatchValidationError(
                f"refused {self.action} patch on {self.feature}: {name}={value!r} is not an "
                "integer, and the feature is an integer feature"
            )

    @staticmethod
    def _literal(value: float, spec: FeatureSpec) -> str:
        return sql_literal(int(value) if spec.dtype is DType.INT else float(value))


@dataclass(frozen=True)
class Cast(Patch):
    """SCHEMA_CHANGE: cast the column back to the catalog's declared type."""

    to: str = ""
    action: ClassVar[str] = "cast"
    param_keys: ClassVar[tuple[str, ...]] = ("to",)
    order: ClassVar[int] = 0
    description: ClassVar[str] = "cast the column back to its declared type"

    def _check_params(self) -> None:
        if self.to not in {d.value for d in DType}:
            raise PatchValidationError(f"{self.feature}: cast target {_short(self.to)} is not a known dtype")

    def params(self) -> dict[str, Any]:
        return {"to": self.to}

    def _check_against(self, spec: FeatureSpec) -> None:
        if self.to != spec.dtype.value:
            raise PatchValidationError(
                f"refused cast patch on {self.feature}: target {self.to!r} differs from the "
                f"declared dtype {spec.dtype.value!r}"
            )

    def expression(self, column_sql: str, spec: FeatureSpec) -> str:
        return f"CAST({column_sql} AS {spec.dtype.sql_type})"


@dataclass(frozen=True)
class MapValues(Patch):
    """SCHEMA_CHANGE (changed encoding): map listed values to replacements; others unchanged."""

    mapping: tuple[tuple[float, float], ...] = ()
    action: ClassVar[str] = "map_values"
    param_keys: ClassVar[tuple[str, ...]] = ("mapping",)
    order: ClassVar[int] = 1
    description: ClassVar[str] = "replace listed values"

    def _check_params(self) -> None:
        if not isinstance(self.mapping, tuple) or not 1 <= len(self.mapping) <= MAX_MAP_ENTRIES:
            raise PatchValidationError(
                f"{self.feature}: mapping must have 1 to {MAX_MAP_ENTRIES} entries"
            )
        seen = set()
        for pair in self.mapping:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise PatchValidationError(f"{self.feature}: mapping entry {_short(pair)} is not a pair")
            key = _number(self.feature, "mapping key", pair[0])
            _number(self.feature, "mapping value", pair[1])
            if key in seen:
                raise PatchValidationError(f"{self.feature}: mapping key {key!r} appears twice")
            seen.add(key)

    def params(self) -> dict[str, Any]:
        return {"mapping": [[a, b] for a, b in self.mapping]}

    def _check_against(self, spec: FeatureSpec) -> None:
        for _, value in self.mapping:
            self._in_range(spec, "mapping value", value)

    def expression(self, column_sql: str, spec: FeatureSpec) -> str:
        # Keys compare as DOUBLE so integer and float columns match the same way.
        whens = " ".join(
            f"WHEN CAST({column_sql} AS DOUBLE) = {sql_literal(float(a))} THEN {self._literal(b, spec)}"
            for a, b in self.mapping
        )
        return f"CAST(CASE {whens} ELSE {column_sql} END AS {spec.dtype.sql_type})"


@dataclass(frozen=True)
class ImputeMedian(Patch):
    """NULL_SPIKE from missing inputs: replace missing values with the baseline median.

    With `when_rows_in` (a count feature over the same window and rows), only NULLs of rows that
    had at least `min_rows` input rows are filled: those are NULL because the inputs' values were
    missing; a NULL with no rows in the window is NULL by definition and stays NULL."""

    median: float = 0.0
    when_rows_in: str = ""
    min_rows: int = 1
    action: ClassVar[str] = "impute_median"
    param_keys: ClassVar[tuple[str, ...]] = ("median",)
    order: ClassVar[int] = 2
    description: ClassVar[str] = "fill NULLs with the baseline median"

    def _check_params(self) -> None:
        _number(self.feature, "median", self.median)
        if self.when_rows_in:
            try:
                quote_ident(self.when_rows_in)
            except ValueError:
                raise PatchValidationError(
                    f"{self.feature}: when_rows_in {_short(self.when_rows_in)} is not a feature name") from None
        if isinstance(self.min_rows, bool) or not isinstance(self.min_rows, int) or not 1 <= self.min_rows <= 10:
            raise PatchValidationError(f"{self.feature}: min_rows must be an integer 1..10, got {_short(self.min_rows)}")

    def params(self) -> dict[str, Any]:
        # Only non-default keys, so ids of patches proposed before `when_rows_in` existed still match.
        extra = {"when_rows_in": self.when_rows_in, "min_rows": self.min_rows} if self.when_rows_in else {}
        return {"median": self.median, **extra}

    def _check_against(self, spec: FeatureSpec) -> None:
        self._in_range(spec, "median", self.median)

    def expression(self, column_sql: str, spec: FeatureSpec) -> str:
        return self.row_expression(column_sql, spec)

    def row_expression(self, column_sql: str, spec: FeatureSpec, row_prefix: str = "") -> str:
        fill = self._literal(self.median, spec)
        if not self.when_rows_in:
            return f"CAST(COALESCE({column_sql}, {fill}) AS {spec.dtype.sql_type})"
        rows = f"{row_prefix}{quote_ident(self.when_rows_in)}"
        return (f"CAST(CASE WHEN {column_sql} IS NULL AND {rows} >= {int(self.min_rows)} THEN {fill} "
                f"ELSE {column_sql} END AS {spec.dtype.sql_type})")


@dataclass(frozen=True)
class Clip(Patch):
    """Tail contamination: clip values to bounds no baseline value lies outside (rules.py picks
    them); NULLs stay NULL."""

    lower: float = 0.0
    upper: float = 0.0
    action: ClassVar[str] = "clip"
    param_keys: ClassVar[tuple[str, ...]] = ("lower", "upper")
    order: ClassVar[int] = 3
    description: ClassVar[str] = "clip values to [lower, upper]"

    def _check_params(self) -> None:
        lower = _number(self.feature, "lower", self.lower)
        upper = _number(self.feature, "upper", self.upper)
        if lower > upper:
            raise PatchValidationError(
                f"refused clip patch on {self.feature}: lower bound {lower!r} is above the "
                f"upper bound {upper!r}"
            )

    def params(self) -> dict[str, Any]:
        return {"lower": self.lower, "upper": self.upper}

    def _check_against(self, spec: FeatureSpec) -> None:
        self._in_range(spec, "lower", self.lower)
        self._in_range(spec, "upper", self.upper)

    def expression(self, column_sql: str, spec: FeatureSpec) -> str:
        lo, hi = self._literal(self.lower, spec), self._literal(self.upper, spec)
        # CASE rather than LEAST/GREATEST: DuckDB's GREATEST skips NULLs, Snowflake's returns NULL.
        return (
            f"CAST(CASE WHEN {column_sql} < {lo} THEN {lo} WHEN {column_sql} > {hi} THEN {hi} "
            f"ELSE {column_sql} END AS {spec.dtype.sql_type})"
        )


@dataclass(frozen=True)
class ExcludeSource(Patch):
    """Single bad source: recompute the feature without the rows of one landing file.

    Only rows whose window holds rows of that file change: their value is re-aggregated over
    raw_events without the file (the catalog's own aggregate, rendered from the spec, never from the
    patch), so the rest of the table is untouched. The fix for the data itself is to correct and
    re-ingest the file (a changed file is re-staged by the next ingestion); then roll this back."""

    source_file: str = ""
    action: ClassVar[str] = "exclude_source"
    param_keys: ClassVar[tuple[str, ...]] = ("source_file",)
    order: ClassVar[int] = -1
    description: ClassVar[str] = "recompute without the rows of one landing file"

    def _check_params(self) -> None:
        name = self.source_file
        if (not isinstance(name, str) or not _SOURCE_FILE.match(name) or ".." in name.split("/")
                or len(name) > 255):
            raise PatchValidationError(
                f"refused exclude_source patch on {self.feature}: source_file {_short(name)} is not a "
                "relative landing-file path (letters, digits, . _ - / only)")

    def params(self) -> dict[str, Any]:
        return {"source_file": self.source_file}

    def _check_against(self, spec: FeatureSpec) -> None:
        if not spec.aggregate or spec.agg in (None, "days_since_last_event") or not spec.over_raw_events:
            raise PatchValidationError(
                f"refused exclude_source patch on {self.feature}: it is not an aggregate of raw_events rows"
                + ("" if spec.over_raw_events else f" (its source is {spec.source}, agg {spec.agg})"))

    def expression(self, column_sql: str, spec: FeatureSpec) -> str:
        return self.row_expression(column_sql, spec)

    def row_expression(self, column_sql: str, spec: FeatureSpec, row_prefix: str = "") -> str:
        file = sql_literal(self.source_file)
        # The subquery must name the outer row: unqualified, customer_id would mean ff_x's own.
        row_prefix = row_prefix or "customer_features."
        window = (f"ff_x.customer_id = {row_prefix}customer_id AND ff_x.event_date BETWEEN "
                  f"{row_prefix}snapshot_date - {int(spec.window_days) - 1} AND {row_prefix}snapshot_date")
        empty = "NULL" if spec.empty_value is None else self._literal(spec.empty_value, spec)
        again = (f"(SELECT COALESCE({spec.aggregate}, {empty}) FROM raw_events ff_x "
                 f"WHERE {window} AND ff_x.source_file <> {file})")
        return (f"CAST(CASE WHEN EXISTS (SELECT 1 FROM raw_events ff_x WHERE {window} AND "
                f"ff_x.source_file = {file}) THEN {again} ELSE {column_sql} END AS {spec.dtype.sql_type})")


@dataclass(frozen=True)
class DisableFeature(Patch):
    """Critical breakage: stop serving the feature (served as NULL; the column stays)."""

    action: ClassVar[str] = "disable_feature"
    order: ClassVar[int] = 9
    description: ClassVar[str] = "stop serving the feature (NULL for every customer)"

    def expression(self, column_sql: str, spec: FeatureSpec) -> str:
        return f"CAST(NULL AS {spec.dtype.sql_type})"


@dataclass(frozen=True)
class RequestRetrain(Patch):
    """Severe MEAN_SHIFT / DISTRIBUTION_SHIFT: the data is plausible, the model is out of date."""

    action: ClassVar[str] = "request_retrain"
    changes_data: ClassVar[bool] = False
    description: ClassVar[str] = "request a retrain of models that use the feature"


@dataclass(frozen=True)
class RefreshBaseline(Patch):
    """Severe MEAN_SHIFT / DISTRIBUTION_SHIFT accepted as the new normal: recapture the baseline."""

    action: ClassVar[str] = "refresh_baseline"
    changes_data: ClassVar[bool] = False
    description: ClassVar[str] = "request a new baseline capture"


PATCH_TYPES: dict[str, type[Patch]] = {
    cls.action: cls
    for cls in (ExcludeSource, Cast, MapValues, ImputeMedian, Clip, DisableFeature, RequestRetrain, RefreshBaseline)
}
ACTIONS = tuple(PATCH_TYPES)


def _reject_constant(token: str) -> Any:
    raise PatchValidationError(f"parameter JSON contains the non-finite constant {token}")


def _parse_params(action: str, feature: str, params: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(params, str):
        try:
            params = json.loads(params, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise PatchValidationError(f"refused {action} patch on {feature!r}: params are not JSON ({exc})") from None
    if not isinstance(params, dict):
        raise PatchValidationError(f"refused {action} patch on {feature!r}: params must be a JSON object")
    return params


def patch_from_record(
    action: str,
    feature: str,
    baseline_version: Any,
    params: str | dict[str, Any],
    patch_id: str | None = None,
) -> Patch:
    """Rebuild a typed patch from a stored row. Refuses unknown actions, unknown or extra parameter
    keys, non-numbers where numbers belong, and (when `patch_id` is given) any row whose content no
    longer hashes to its id."""
    cls = PATCH_TYPES.get(action) if isinstance(action, str) else None
    if cls is None:
        raise PatchValidationError(f"refused patch on {_short(feature)}: unknown action {_short(action)}")
    values = _parse_params(action, feature, params)
    expected = set(cls.param_keys)
    if cls is ImputeMedian and "when_rows_in" in values:
        expected |= {"when_rows_in", "min_rows"}
    if set(values) != expected:
        raise PatchValidationError(
            f"refused {action} patch on {_short(feature)}: params keys {sorted(values)} != expected {sorted(expected)}"
        )
    if cls is MapValues:
        raw = values["mapping"]
        if not isinstance(raw, list):
            raise PatchValidationError(f"refused map_values patch on {_short(feature)}: mapping must be a list")
        values = {"mapping": tuple(tuple(p) if isinstance(p, list) else p for p in raw)}
    if isinstance(baseline_version, float) and baseline_version.is_integer():
        baseline_version = int(baseline_version)
    patch = cls(feature=feature, baseline_version=baseline_version, **values)
    if patch_id is not None and patch.patch_id != patch_id:
        raise PatchValidationError(
            f"refused {action} patch {_short(patch_id)} on {feature}: its stored content does not match "
            f"its id (computed {patch.patch_id}); the row was modified after it was proposed"
        )
    return patch


def compose(patches: list[Patch], column_sql: str, catalog: Catalog, row_prefix: str = "") -> str:
    """The expression for one feature with several active patches, in a fixed order (exclude a
    source, cast, map, impute, clip, disable) so the result does not depend on the order they were
    applied in. `row_prefix` qualifies the other columns a patch reads (`f.`)."""
    expr = column_sql
    for patch in sorted((p for p in patches if p.changes_data), key=lambda p: p.order):
        expr = patch.render(expr, catalog, row_prefix)
    return expr
