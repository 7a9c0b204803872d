"""Why a feature drifted (pure): one diagnosis per drifted feature-day, from the drift evidence.

The fix depends on the cause, not on the drift type: a genuine population shift pushes values past
the baseline's p99 just as an outlier burst does (both alert OUT_OF_RANGE), but clipping the first
hides a real change from training and serving. What tells them apart is whether the *bulk* of the
distribution moved. The rules, first match wins (effect sizes are defaults of `Rules`):

| diagnosis             | rule                                                                          |
|-----------------------|-------------------------------------------------------------------------------|
| `type_or_schema`      | SCHEMA_CHANGE on the column, or a landing file in the feature's window had a  |
|                       | type change / missing column on a raw column the feature reads                |
|                       | (`landing_schema_drift`)                                                      |
| `volume_or_staleness` | STALE (no rows, or an incomplete feed: feed.py), unless the mix moved too:    |
|                       | with POPULATION_MIX or DISTRIBUTION_SHIFT at `short_day_mix_severity`         |
|                       | (medium) or worse on the short day, the composition shift is diagnosed by the |
|                       | rules below (`short_feed` in the evidence)                                    |
| `population_shift`    | NULL_SPIKE that is NULL by definition: the aggregate is NULL over an empty    |
|  (null by definition) | window (avg, min, max, stddev, ratio, days since last event), the raw inputs  |
|                       | it reads did not go missing (input null rate up by < `empty_input_null_max`,  |
|                       | 0.02), and a count over the same window and rows, when the catalog has one,   |
|                       | gained zeros worth >= `empty_match` (0.5) of the null rise: more entities     |
|                       | without a qualifying row (30% of purchases gone), not missing data            |
| `missing_data`        | NULL_SPIKE (feature NULLs, or missing raw inputs it aggregates)               |
| `tail_contamination`  | OUT_OF_RANGE, VARIANCE_CHANGE or MEAN_SHIFT (a few extreme rows cause each),  |
|                       | and the bulk is stable: no quantile p25..p75 moved more than `bulk_shift`     |
|                       | (0.10) of the baseline's p05..p95 spread (p95 itself moves when >5% of rows   |
|                       | are hit), and KS minus the excess tail share minus the largest KS a baseline  |
|                       | day shows (`noise_floor`) is <= `ks_residual` (0.05; a share e of rows moved  |
|                       | into a tail moves KS by at most e); with a                                    |
|                       | very still bulk (<= `still_bulk`, 0.05) a residual up to `ks_residual_still`  |
|                       | (0.10) is allowed: long windows pull hit rows up without always passing p99;  |
|                       | and the middle half moved at most what the excess explains (`explained_move`: |
|                       | a share e out of the bulk moves each quantile by <= e in rank, to the         |
|                       | baseline's p +- e) plus `bulk_noise` (0.05)                                   |
| `population_shift`    | anything else that drifted (MEAN_SHIFT, VARIANCE_CHANGE, DISTRIBUTION_SHIFT,  |
|                       | or OUT_OF_RANGE with a moved bulk; SUSTAINED_TREND alone: a slow trend of     |
|                       | the feature's total, which a baseline refresh or retrain answers)             |

A replayed batch (replay.py: a landing file whose rows repeat rows of other files under new ids)
in the feature's window, holding at least `replay_part` (0.02) of the window's raw rows, makes a
`population_shift` or `tail_contamination` a `single_source` naming that file (`replayed`): the
copy has the data's own shape, so only its content gives it away, and excluding the file undoes it.

Then `tail_contamination`, `missing_data` and `type_or_schema` become `single_source` when one
landing file carries >= `single_source_share` (0.5) of the change (attribution.py) and at least
`single_source_lead` (3) times the next file's share, while holding at most `single_source_size`
(0.5) of the feature's rows, and other files of the same event days carry little of it (< 0.2):
one bad file among clean peers, fixed by excluding that file and
re-ingesting it. With one file per day a burst that spans the day is not a single source: its
peers (the other days) do not share its days, so it stays `tail_contamination`.

The drift issue's scenarios set the scale: outlier bursts alerted with KS ~0.05 (PSI 0.01-0.06),
genuine shifts with KS 0.17-0.24 (PSI 0.18-0.37); 0.05 of KS beyond the tail's own excess sits
between the two.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from feature_factory.monitoring.kinds import Diagnosis, DriftType
from feature_factory.monitoring.statistics.summary import Summary

DIAGNOSES = tuple(Diagnosis)  # their values, stored in drift_alerts.diagnosis
# The attribution mode each diagnosis asks for (attribution.MODES).
MODE = {Diagnosis.TAIL_CONTAMINATION: "tail", Diagnosis.SINGLE_SOURCE: "tail", Diagnosis.MISSING_DATA: "missing",
        Diagnosis.TYPE_OR_SCHEMA: "missing", Diagnosis.POPULATION_SHIFT: "shift",
        Diagnosis.VOLUME_OR_STALENESS: "shift"}
# The middle half: a contamination of up to ~20% of rows moves p95 (that is where it lands), not p25..p75.
# Drift that a few extreme rows can cause on their own; DISTRIBUTION_SHIFT alone means the bulk moved.
TAIL_TYPES = {DriftType.OUT_OF_RANGE, DriftType.VARIANCE_CHANGE, DriftType.MEAN_SHIFT}
BULK_QUANTILES = tuple(q / 100 for q in range(25, 80, 5))
# Aggregates that are NULL when the window holds no qualifying row: such a NULL is an entity without
# that activity (a population fact), unless the inputs it would have read went missing.
NULL_ON_EMPTY = frozenset({"avg", "min", "max", "stddev", "ratio", "days_since_last_event"})


@dataclass(frozen=True)
class Rules:
    ks_residual: float = 0.05
    bulk_shift: float = 0.10
    still_bulk: float = 0.05
    bulk_noise: float = 0.05  # p25..p75 moves beyond the tail excess's own (explained_move) allowed as noise
    ks_residual_still: float = 0.10
    single_source_share: float = 0.5
    single_source_lead: float = 3.0  # times the share of the next file
    single_source_size: float = 0.5
    peer_share: float = 0.2
    empty_input_null_max: float = 0.02  # raw input null-rate rise below which the inputs are not missing
    empty_match: float = 0.5  # companion count's zero-share rise, as a share of the null-rate rise
    replay_part: float = 0.02  # a replayed file's least share of the window's raw rows to explain its drift
    short_day_mix_severity: str = "medium"  # a mix move on a short (STALE) day is diagnosed as itself from here


def bulk_shift(current: Summary | None, baseline: Summary) -> float | None:
    """Largest move of a quantile p25..p75 (from the quantile grids), in units of the baseline's
    p05..p95 spread (its stddev when that spread is 0, as for mostly-zero counts)."""
    gc, gb = (current.grid if current else None), baseline.grid
    if not gc or not gb or len(gc) != len(gb):
        return None
    m = len(gb) - 1
    at = lambda g, q: g[min(m, max(0, round(q * m)))]  # noqa: E731
    spread = at(gb, 0.95) - at(gb, 0.05)
    if not spread or not math.isfinite(spread):
        spread = baseline.stddev or 1.0
    moves = [abs(at(gc, q) - at(gb, q)) for q in BULK_QUANTILES]
    moves = [v for v in moves if math.isfinite(v)]
    return max(moves) / spread if moves else None


def explained_move(baseline: Summary, excess: float | None) -> float | None:
    """The largest move of a quantile p25..p75 that `excess` (a share of rows moved into a tail)
    can cause, in the units of `bulk_shift`: moving a share e of rows out of the bulk shifts every
    quantile by at most e in rank, i.e. to the baseline's own quantile p +- e."""
    gb = baseline.grid
    if not gb or excess is None or excess <= 0:
        return 0.0 if gb else None
    m = len(gb) - 1
    at = lambda q: gb[min(m, max(0, round(q * m)))]  # noqa: E731
    spread = at(0.95) - at(0.05)
    if not spread or not math.isfinite(spread):
        spread = baseline.stddev or 1.0
    moves = [max(abs(at(q + excess) - at(q)), abs(at(q) - at(q - excess))) for q in BULK_QUANTILES]
    moves = [v for v in moves if math.isfinite(v)]
    return max(moves) / spread if moves else None


def preliminary(types: dict[str, str], metrics: dict[str, float | None], current: Summary | None,
                baseline: Summary, schema_files: list[dict], rules: Rules | None = None,
                empty: dict | None = None) -> tuple[str, dict]:
    """The diagnosis before attribution (every rule but `single_source`), with its evidence.
    `empty` (for NULL_SPIKE, from `empty_window_evidence`): whether the feature's aggregate is
    NULL over an empty window, and its companion count's zero-share rise."""
    r = rules or Rules()
    ks, excess = metrics.get("ks"), metrics.get("out_of_range_excess")
    shift = bulk_shift(current, baseline)
    evidence: dict[str, Any] = {
        "drift_types": sorted(types), "ks": _round(ks), "psi": _round(metrics.get("psi")),
        "tail_excess": _round(excess), "bulk_shift": _round(shift),
        "ks_residual": _round(ks - max(excess or 0.0, 0.0)) if ks is not None else None,
        "null_rate_delta": _round(metrics.get("null_rate_delta")),
        "input_null_rate_delta": _round(metrics.get("input_null_rate_delta")),
    }
    if current is not None:
        evidence["tail"] = _tail_side(current, baseline)
    if DriftType.SCHEMA_CHANGE in types:
        return Diagnosis.TYPE_OR_SCHEMA, {**evidence, "why": "the column is missing or its type changed"}
    if schema_files:
        names = sorted({f["source_file"] for f in schema_files})
        return Diagnosis.TYPE_OR_SCHEMA, {**evidence, "schema_files": schema_files[:10],
                                  "why": f"landing file(s) {', '.join(names[:3])} changed the type of a raw "
                                         "column this feature reads"}
    if DriftType.STALE in types:
        if not composition_moved(types, r.short_day_mix_severity):
            return Diagnosis.VOLUME_OR_STALENESS, {**evidence, "why": "the day's feed is incomplete: far fewer "
                                                   "rows landed than on comparable days"}
        evidence["short_feed"] = True  # reported, but what moved is the mix: diagnosed as that below
    if set(types) - {DriftType.STALE} == {DriftType.SUSTAINED_TREND}:
        return Diagnosis.POPULATION_SHIFT, {**evidence, "why": "a slow, sustained trend of the feature's total "
                                            "over weeks (SUSTAINED_TREND), not a sudden change"}
    if DriftType.NULL_SPIKE in types:
        inputs = (metrics.get("input_null_rate_delta") or 0.0) > (metrics.get("null_rate_delta") or 0.0)
        by_definition = None if inputs else null_by_definition(metrics, empty, r)
        if by_definition:
            return Diagnosis.POPULATION_SHIFT, {**evidence, **(empty or {}), "null_by_definition": True,
                                                "why": by_definition}
        return Diagnosis.MISSING_DATA, {**evidence, "inputs_missing": inputs,
                                "why": "raw inputs it aggregates went missing" if inputs else "more NULL values"}
    noise = float(baseline.noise.get("KS", 0.0) or 0.0)
    evidence["ks_noise"] = _round(noise)
    explained = explained_move(baseline, max(excess or 0.0, 0.0))
    evidence["bulk_explained"] = _round(explained)
    if types.keys() & TAIL_TYPES and _bulk_stable(ks, excess, shift, r, noise, explained):
        return Diagnosis.TAIL_CONTAMINATION, {**evidence, "why": (
            f"the bulk is stable (largest p25..p75 move {_fmt(shift)} of the baseline spread), KS {_fmt(ks)} is "
            f"explained by {_fmt(excess)} excess mass in the {evidence.get('tail', 'upper')} tail")}
    return Diagnosis.POPULATION_SHIFT, {**evidence, "why": (
        f"the bulk moved: KS {_fmt(ks)} beyond the {_fmt(excess or 0)} tail excess, largest p25..p75 "
        f"move {_fmt(shift)} of the baseline spread")}


def empty_window_evidence(agg: str | None, companion: str | None, current: Summary | None,
                          baseline: Summary | None) -> dict:
    """What `null_by_definition` reads: whether `agg` is NULL over an empty window, and the rise
    of the zero share of `companion` (a count over the same window and rows; None without one)."""
    out: dict[str, Any] = {"null_on_empty": agg in NULL_ON_EMPTY}
    if companion:
        out["companion"] = companion
        if current is not None and baseline is not None and None not in (current.zero_rate, baseline.zero_rate):
            out["companion_zero_rate_delta"] = _round(current.zero_rate - baseline.zero_rate)
    return out


def null_by_definition(metrics: dict[str, float | None], empty: dict | None, rules: Rules | None = None) -> str | None:
    """Why the NULL rise is a population change (the text for `why`), or None when it may be
    missing data: the aggregate must be NULL over an empty window, the raw inputs it reads must not
    have gone missing, and a companion count, when there is one, must have gained as many zeros."""
    r = rules or Rules()
    delta = metrics.get("null_rate_delta") or 0.0
    if not empty or not empty.get("null_on_empty") or delta <= 0:
        return None
    inputs = metrics.get("input_null_rate_delta")
    zeros = empty.get("companion_zero_rate_delta")
    if inputs is None and zeros is None:
        return None  # nothing says the inputs are there
    if inputs is not None and inputs > r.empty_input_null_max:
        return None
    if empty.get("companion") and (zeros is None or zeros < r.empty_match * delta):
        return None
    seen = [f"raw inputs not missing (input null rate {inputs:+.1%})"] if inputs is not None else []
    if zeros is not None:
        seen.append(f"{empty['companion']} zeros {zeros:+.1%}")
    return (f"NULL by definition: {delta:+.1%} of rows have no qualifying row in the window (the aggregate "
            f"of nothing is NULL), a population change, not missing data; {', '.join(seen)}")


COMPOSITION = {DriftType.POPULATION_MIX, DriftType.DISTRIBUTION_SHIFT}


def from_types(types: Mapping[DriftType, str], metrics: Mapping[str, float | None],
               rules: Rules | None = None) -> Diagnosis | None:
    """The diagnosis of a stored alert row written before diagnoses existed, from what the row
    carries (its drift types with their severities, its KS and tail excess): `preliminary`'s rules
    in their order, without the quantile grids, landing-file and attribution evidence only a
    monitoring run has. SCHEMA_CHANGE -> `type_or_schema`; STALE (its mix not moved) ->
    `volume_or_staleness`; SUSTAINED_TREND alone -> `population_shift`; NULL_SPIKE ->
    `missing_data`; OUT_OF_RANGE whose KS beyond the tail excess is at most `ks_residual` (or not
    stored) -> `tail_contamination`; any other drift (MEAN_SHIFT, VARIANCE_CHANGE,
    DISTRIBUTION_SHIFT, POPULATION_MIX) -> `population_shift`. None when nothing drifted."""
    r = rules or Rules()
    kinds = set(types)
    if not kinds:
        return None
    if DriftType.SCHEMA_CHANGE in kinds:
        return Diagnosis.TYPE_OR_SCHEMA
    if DriftType.STALE in kinds and not composition_moved(dict(types), r.short_day_mix_severity):
        return Diagnosis.VOLUME_OR_STALENESS
    if kinds - {DriftType.STALE} == {DriftType.SUSTAINED_TREND}:
        return Diagnosis.POPULATION_SHIFT
    if DriftType.NULL_SPIKE in kinds:
        return Diagnosis.MISSING_DATA
    if DriftType.OUT_OF_RANGE in kinds:
        # Without the bulk quantiles, the KS the tail's excess does not explain is what is left to
        # tell outliers from a shift (a row that stored neither: the outliers its type names).
        ks, excess = metrics.get("ks"), metrics.get("out_of_range_excess")
        if ks is None or excess is None or ks - max(excess, 0.0) <= r.ks_residual:
            return Diagnosis.TAIL_CONTAMINATION
    return Diagnosis.POPULATION_SHIFT



def composition_moved(types: dict[str, str], at: str = "medium") -> bool:
    """A short day whose mix moved too (not only its volume): a missing file thins the window's
    counts by about its share of one day over the window's days (half of one day of a 7-day
    window: ~7%), which moves the share of customers without activity a little (POPULATION_MIX or
    DISTRIBUTION_SHIFT at low). At `at` (medium) or above, the move is more than the missing rows
    explain: a composition shift, reported as such."""
    from feature_factory.monitoring.detection.thresholds import severity_rank

    return any(severity_rank(types[t]) >= severity_rank(at) for t in COMPOSITION if t in types)


def refine(diagnosis: str, evidence: dict, contributors: list[dict], file_days: dict[str, str] | None = None,
           rules: Rules | None = None) -> tuple[str, dict]:
    """`single_source` when one landing file carries the change among clean peers (module rule);
    the contributors always join the evidence."""
    r = rules or Rules()
    evidence = {**evidence, "contributors": contributors}
    if diagnosis not in (Diagnosis.TAIL_CONTAMINATION, Diagnosis.MISSING_DATA, Diagnosis.TYPE_OR_SCHEMA):
        return diagnosis, evidence
    files = [c for c in contributors if c["dimension"] == "source_file"]
    if not files:
        return diagnosis, evidence
    top = files[0]
    days = file_days or {}
    peers = [f for f, d in days.items() if f != top["value"] and d == days.get(top["value"])]
    peer_shares = {c["value"]: c["share"] for c in files}
    clean_peers = [p for p in peers if peer_shares.get(p, 0.0) < r.peer_share]
    second = files[1]["share"] if len(files) > 1 else 0.0
    # Most of the change (not 80%: a 7-day window has 28 files of 4 a day, whose noise takes a share
    # too) and far more than any other file.
    if (top["share"] >= r.single_source_share and top["share"] >= r.single_source_lead * second
            and top["expected"] <= r.single_source_size and clean_peers):
        return Diagnosis.SINGLE_SOURCE, {**evidence, "source_file": top["value"], "was": diagnosis, "why": (
            f"{top['share']:.0%} of it from {top['value']} ({top['expected']:.0%} of the rows), while "
            f"{len(clean_peers)} other file(s) of the same day(s) are clean")}
    return diagnosis, evidence


def replayed(diagnosis: str, evidence: dict, replay: dict, part: float, rules: Rules | None = None
             ) -> tuple[str, dict]:
    """`single_source` naming a replayed file (module rule) when the diagnosis is one a copy of the
    data can cause and the file holds at least `replay_part` of the window's rows (`part`);
    `replay` is replay.Replay.evidence(). The file leads the contributors."""
    r = rules or Rules()
    if diagnosis not in (Diagnosis.POPULATION_SHIFT, Diagnosis.TAIL_CONTAMINATION) or part < r.replay_part:
        return diagnosis, evidence
    name = replay["source_file"]
    lead = {"dimension": "source_file", "value": name, "share": replay["share"], "expected": round(part, 4),
            "delta": replay["copies"], "low": replay["share"], "lift": round(replay["share"] / part, 2) if part else None,
            "replay": True}
    others = [c for c in evidence.get("contributors", []) if not (c["dimension"] == "source_file" and c["value"] == name)]
    return Diagnosis.SINGLE_SOURCE, {**evidence, "source_file": name, "was": diagnosis, "replay": replay,
                                     "contributors": [lead, *others], "why": (
        f"{name} replays {replay['copies']} rows already stored from other files under new ids "
        f"({replay['share']:.0%} of its rows; event days {replay['first_day']}..{replay['last_day']}), "
        f"{part:.0%} of this window's rows: a duplicated batch, not a change in the data")}


def _bulk_stable(ks, excess, shift, r: Rules, noise: float = 0.0, explained: float | None = None) -> bool:
    if ks is None:
        return shift is not None and shift <= r.bulk_shift
    # The middle half may move by what the tail's excess explains, plus sampling noise; beyond
    # that the bulk moved (a genuine shift early in a window: small KS, but p25..p75 all moved).
    if shift is not None and explained is not None and shift > explained + r.bulk_noise:
        return False
    # KS that neither the tail's excess nor a normal baseline day's own KS explains.
    residual = ks - max(excess or 0.0, 0.0) - noise
    if shift is not None and shift <= r.still_bulk:
        return residual <= r.ks_residual_still
    return residual <= r.ks_residual and (shift is None or shift <= r.bulk_shift)


def _tail_side(current: Summary, baseline: Summary) -> str:
    """Which tail holds the excess: above the baseline p99 or below its p01."""
    above = (current.above_range_count or 0) / current.value_count if current.value_count else 0.0
    below = ((current.out_of_range_count or 0) - (current.above_range_count or 0)) / current.value_count \
        if current.value_count else 0.0
    base_above = baseline.above_range_share or 0.0
    base_below = (baseline.out_of_range_share or 0.0) - base_above
    return "upper" if above - base_above >= below - base_below else "lower"


def _round(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), 4)


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"
