"""Synthetic customer events for the landing folder, with switchable drift and ground truth.

Pure numpy/pyarrow, vectorised, generated and written one day at a time (memory does not grow with
the number of days). Every day draws from its own random stream keyed by (seed, day), and every
drift from its own stream again, so:
- the same seed gives byte-identical files;
- a run with drift is byte-identical to the run without it before `drift.start`, and after it
  differs only in what that drift touches (the tests rely on this).
Files are written atomically (hidden temp file, then rename); a rerun leaves identical files
untouched and removes this generator's files for the same days in another format or split.
`append_days` lands the days after the `days` horizon for the same population (the population is
drawn for `days`, so changing `days` draws another one): earlier days are simulated for their state
but their files are not touched.

    result = generate(GeneratorConfig(customers=2000, days=90, seed=7, out_dir="landing"))
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from feature_factory.synthetic import ground_truth, output
from feature_factory.synthetic.config import (  # noqa: F401  (re-exported: the public API)
    FORMATS,
    SCHEMA_CHANGES,
    DriftConfig,
    GeneratorConfig,
)
from feature_factory.synthetic.population import (
    STREAM_DAY,
    STREAM_OUTLIERS,
    Population,
    build_population,
    purchase_amount_baseline,
)

EVENT_TYPES = ("purchase", "browse", "refund")  # code = index
CHANNELS = ("web", "mobile")

# Monday..Sunday multipliers (mean 1): people shop more at the end of the week.
WEEKLY_PURCHASE = np.array([0.85, 0.90, 0.95, 1.00, 1.10, 1.25, 0.95])
WEEKLY_BROWSE = np.array([0.90, 0.90, 0.95, 1.00, 1.05, 1.15, 1.05])
WEEKEND_MOBILE_BONUS = 0.05
# Share of events per hour of day (UTC): quiet nights, a lunch bump and an evening peak.
HOURLY = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3.5, 4, 4.5, 5.5, 5, 4.5, 4, 4.2, 5, 6, 6.5,
                   6.5, 5.5, 4, 2.2])
HOURLY = HOURLY / HOURLY.sum()
FULL_REFUND_SHARE = 0.7  # the rest refund part of the order
OUTLIER_MEDIAN_MULTIPLE = (20.0, 50.0)


@dataclass
class GenerationResult:
    out_dir: Path
    truth_dir: Path
    files: list[Path]  # every landing file of this run, in day order
    events_per_day: dict[dt.date, int]
    events_by_type: dict[str, int]
    customers: int  # ever active (initial + newcomers); see the ground truth
    files_changed: int  # files whose bytes changed (unchanged files are left untouched)

    @property
    def total_events(self) -> int:
        return sum(self.events_per_day.values())

    def summary(self) -> str:
        return (
            f"wrote {len(self.files)} files ({self.files_changed} changed), {self.total_events:,} events,"
            f" {self.customers:,} customers to {self.out_dir}; ground truth in {self.truth_dir}"
        )


@dataclass
class _State:
    """What one day hands to the next: refunds refer to each customer's latest purchase."""

    last_purchase: np.ndarray
    first_event_day: np.ndarray


def _simulate_day(cfg: GeneratorConfig, pop: Population, state: _State, baseline: dict,
                  day_index: int) -> dict[str, np.ndarray]:
    day = cfg.start + dt.timedelta(days=day_index)
    weekday = day.weekday()
    drifting = cfg.drift.active_on(day)
    rng = np.random.default_rng([cfg.seed, STREAM_DAY, day_index])

    who = np.flatnonzero((pop.signup_day <= day_index) & (day_index < pop.churn_day))
    # Churners wind down linearly over their fade window, reaching ~0 on their last active day.
    fade = np.clip((pop.churn_day[who] - day_index) / pop.fade_days[who], 0.0, 1.0)
    p_rate = pop.purchase_rate[who] * fade
    counts = (
        rng.poisson(p_rate * WEEKLY_PURCHASE[weekday]),
        rng.poisson(pop.browse_rate[who] * fade * WEEKLY_BROWSE[weekday]),
        rng.poisson(p_rate * pop.refund_rate[who]),
    )
    customer = np.concatenate([np.repeat(who, c) for c in counts])
    etype = np.repeat(np.arange(3, dtype=np.int8), [c.sum() for c in counts])
    n = len(customer)
    seconds = rng.choice(24, size=n, p=HOURLY) * 3600 + rng.integers(0, 3600, n)

    basket = np.exp(pop.log_median[customer] + pop.sigma[customer] * rng.standard_normal(n))
    previous = state.last_purchase[customer]
    refund_part = np.where(rng.random(n) < FULL_REFUND_SHARE, 1.0, rng.uniform(0.2, 0.9, n))
    channel_u = rng.random(n)
    missing_u = rng.random(n)

    purchase, refund = etype == 0, etype == 2
    if drifting and cfg.drift.amount_shift:
        basket = np.maximum(basket + cfg.drift.amount_shift * baseline["purchase_amount_std"], 0.0)
    amount = np.where(purchase, basket, 0.0)
    amount = np.where(refund, np.where(previous > 0, previous, basket) * refund_part, amount)

    by_time = np.lexsort((customer, etype, seconds))  # deterministic order within the day
    bought = by_time[purchase[by_time]]
    # The latest purchase of the day (pre-outlier: an outlier is a data error, not an order).
    rev = bought[::-1]
    _, last_pos = np.unique(customer[rev], return_index=True)
    state.last_purchase[customer[rev[last_pos]]] = amount[rev[last_pos]]
    new_seen = customer[state.first_event_day[customer] < 0]
    state.first_event_day[new_seen] = day_index

    in_part = None
    if drifting and cfg.drift.only_part is not None:
        # The rows written to that landing file of the day (write_day's split of the time order).
        in_part = np.zeros(n, dtype=bool)
        in_part[by_time[slice(*_part_bounds(n, cfg.files_per_day, cfg.drift.only_part))]] = True
        bought = bought[in_part[bought]]  # an outlier burst only in that file
    if drifting and cfg.drift.outlier_rate and len(bought):
        orng = np.random.default_rng([cfg.seed, STREAM_OUTLIERS, day_index])
        expected = cfg.drift.outlier_rate * len(bought)
        k = int(expected + orng.random())  # stochastic rounding keeps small days unbiased
        if cfg.drift.outlier_spread:  # scattered over the day (and so over every landing file of it)
            burst = np.sort(orng.choice(bought, size=k, replace=False))
        else:
            first = int(orng.integers(0, len(bought) - k + 1))
            burst = bought[first:first + k]  # consecutive purchases: a burst, not scattered noise
        amount[burst] = baseline["purchase_amount_median"] * orng.uniform(*OUTLIER_MEDIAN_MULTIPLE, k)

    missing_rate = cfg.base_missing_amount_rate + (cfg.drift.missing_amount_rate if drifting else 0.0)
    if drifting and cfg.drift.missing_amount_rate and in_part is not None:
        missing_rate = np.where(in_part, missing_rate, cfg.base_missing_amount_rate)
    missing = (etype != 1) & (missing_u < missing_rate)
    mobile_p = pop.mobile_share[customer] + (WEEKEND_MOBILE_BONUS if weekday >= 5 else 0.0)
    if drifting:
        mobile_p = mobile_p + cfg.drift.channel_shift
    cents = np.round(amount * 100).astype(np.int64)
    return {
        "customer": customer[by_time],
        "etype": etype[by_time],
        "mobile": (channel_u < np.clip(mobile_p, 0.0, 1.0))[by_time],
        "cents": cents[by_time],
        "missing": missing[by_time],
        "seconds": seconds[by_time],
    }


def _part_bounds(rows: int, files_per_day: int, part: int) -> tuple[int, int]:
    """Rows [lo, hi) of the day's time order that landing file `part` (1-based) holds."""
    bounds = output.split_bounds(rows, files_per_day)
    return int(bounds[part - 1]), int(bounds[part])


def _check_continues(cfg: GeneratorConfig) -> dict:
    """An append continues the data an earlier run landed: refuse settings that would draw another
    population (its ground truth records the settings it was generated with). Returns that record
    ({} when there is none: the days are well defined all the same)."""
    manifest = cfg.truth_dir / ground_truth.DRIFT_FILE
    if not manifest.is_file():
        return {}
    recorded = json.loads(manifest.read_text()).get("generator", {})
    differ = {k: (recorded.get(k), v) for k, v in cfg.settings_record().items()
              if k in recorded and recorded[k] != v}
    if differ:
        raise ValueError(
            f"--append-days continues the files generated with the settings in {manifest}, but "
            + ", ".join(f"{k} was {old!r}, now {new!r}" for k, (old, new) in sorted(differ.items()))
            + ": pass the same --customers/--days/--start/--seed/--format/--files-per-day as before "
              "(--days stays the original number of days)")
    return recorded


def generate(config: GeneratorConfig) -> GenerationResult:
    """Write one landing file per day (or `files_per_day`) and the ground truth; see module doc."""
    cfg = config
    pop = build_population(cfg.customers, cfg.days, cfg.seed, cfg.replace_churners)
    baseline = purchase_amount_baseline(pop, cfg.seed)
    state = _State(np.zeros(len(pop)), np.full(len(pop), -1, dtype=np.int64))
    ids = output.customer_ids(len(pop))
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    changed = 0
    per_day: dict[dt.date, int] = {}
    by_type = np.zeros(3, dtype=np.int64)
    recorded = _check_continues(cfg) if cfg.append_days else {}
    for day_index in range(cfg.days + cfg.append_days):
        day = cfg.start + dt.timedelta(days=day_index)
        events = _simulate_day(cfg, pop, state, baseline, day_index)
        if cfg.append_days and day_index < cfg.days:
            continue  # simulated for the state the next days continue from; its files stay untouched
        schema_change = cfg.drift.schema_change if cfg.drift.active_on(day) else None
        part = cfg.drift.only_part if schema_change else None
        table = output.day_table(events, day, ids, cfg.fmt, None if part else schema_change)
        override = (part, output.day_table(events, day, ids, cfg.fmt, schema_change)) if part else None
        written, n_changed = output.write_day(table, day, cfg.out_dir, cfg.fmt, cfg.files_per_day,
                                                        override)
        files += written
        changed += n_changed
        per_day[day] = len(events["etype"])
        by_type += np.bincount(events["etype"], minlength=3)
    if recorded.get("last_day", "") <= cfg.last_day.isoformat():  # never forget days landed earlier
        ground_truth.write_ground_truth(cfg, pop, state.first_event_day, baseline)
    return GenerationResult(
        out_dir=cfg.out_dir,
        truth_dir=cfg.truth_dir,
        files=files,
        events_per_day=per_day,
        events_by_type=dict(zip(EVENT_TYPES, by_type.tolist())),
        customers=len(pop),
        files_changed=changed,
    )
