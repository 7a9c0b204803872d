"""The synthetic customer population: segments, per-customer behaviour, churn dates.

Every customer carries a true churn propensity: the probability of churning within the next 30
days. Churn times are drawn from a constant daily hazard with exactly that 30-day probability, so at
any label date the propensity of a still-active customer is the true chance that they churn inside
the following 30 days - which is what makes it a fair oracle for "no purchase in the next 30 days".

Churners are replaced by newcomers of the same segment, so the active population (and with it the
feature distributions the monitoring compares against a baseline) stays roughly stationary while new
customers keep appearing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Stream ids for np.random.default_rng([seed, stream, ...]): each purpose draws from its own stream,
# so adding draws in one place never changes the numbers drawn anywhere else.
STREAM_POPULATION = 0
STREAM_DAY = 1
STREAM_OUTLIERS = 2
STREAM_BASELINE = 3

CHURN_HORIZON_DAYS = 30
NO_CHURN = np.iinfo(np.int32).max


@dataclass(frozen=True)
class Segment:
    name: str
    share: float  # of the initial population
    purchase_rate: float  # purchases per active day, before weekly seasonality
    browse_rate: float  # browse events per active day
    refund_rate: float  # refunds per purchase
    amount_median: float  # typical basket, currency units
    amount_sigma: float  # log-normal sigma of one customer's baskets
    mobile_share: float
    churn_propensity: float  # segment mean of the 30-day churn probability


SEGMENTS: tuple[Segment, ...] = (
    Segment("loyal", 0.20, 0.30, 1.20, 0.03, 55.0, 0.45, 0.55, 0.04),
    Segment("regular", 0.35, 0.14, 0.75, 0.04, 38.0, 0.50, 0.50, 0.10),
    Segment("occasional", 0.30, 0.05, 0.35, 0.05, 32.0, 0.60, 0.40, 0.22),
    Segment("bargain", 0.15, 0.16, 1.40, 0.09, 14.0, 0.40, 0.70, 0.15),
)
SEGMENT_NAMES = tuple(s.name for s in SEGMENTS)

_ACTIVITY_SIGMA = 0.35  # customer-to-customer spread of activity within a segment
_BASKET_SIGMA = 0.25  # customer-to-customer spread of the typical basket
_PROPENSITY_CONCENTRATION = 6.0  # Beta(a, b) with a + b = this: wide spread within a segment
_FADE_DAYS = (14, 28)  # activity fades linearly over this many days before the churn date
_NEWCOMER_DELAY_DAYS = 7  # a churner's replacement joins within this many days


@dataclass
class Population:
    """One entry per customer who is ever active, ordered by signup day; customer ids are
    "C" + the 1-based position, zero-padded (`output.customer_ids`)."""

    segment: np.ndarray  # int8 index into SEGMENTS
    purchase_rate: np.ndarray
    browse_rate: np.ndarray
    refund_rate: np.ndarray
    log_median: np.ndarray
    sigma: np.ndarray
    mobile_share: np.ndarray
    propensity: np.ndarray
    signup_day: np.ndarray  # day index; < 0 for customers who existed before the first day
    churn_day: np.ndarray  # first day without activity; NO_CHURN when not within the horizon
    fade_days: np.ndarray

    def __len__(self) -> int:
        return len(self.segment)



def _draw(rng: np.random.Generator, segment: np.ndarray, signup_day: np.ndarray) -> dict:
    n = len(segment)
    seg = [SEGMENTS[i] for i in range(len(SEGMENTS))]
    pick = lambda attr: np.array([getattr(s, attr) for s in seg])[segment]  # noqa: E731
    activity = rng.lognormal(-0.5 * _ACTIVITY_SIGMA**2, _ACTIVITY_SIGMA, n)
    mean_p = pick("churn_propensity")
    propensity = rng.beta(mean_p * _PROPENSITY_CONCENTRATION, (1 - mean_p) * _PROPENSITY_CONCENTRATION)
    propensity = np.clip(propensity, 1e-4, 0.95)
    # Constant hazard with P(churn within 30 days) == propensity; memoryless, so this holds at
    # every label date for a customer who is still active.
    daily_hazard = -np.log1p(-propensity) / CHURN_HORIZON_DAYS
    days_to_churn = np.ceil(rng.exponential(1.0, n) / daily_hazard)
    start = np.maximum(signup_day, 0)
    churn_day = np.minimum(start + np.maximum(days_to_churn, 1), NO_CHURN).astype(np.int64)
    return dict(
        segment=segment.astype(np.int8),
        purchase_rate=pick("purchase_rate") * activity,
        browse_rate=pick("browse_rate") * activity * rng.lognormal(-0.02, 0.2, n),
        refund_rate=pick("refund_rate"),
        log_median=np.log(pick("amount_median")) + rng.normal(0.0, _BASKET_SIGMA, n),
        sigma=pick("amount_sigma"),
        mobile_share=np.clip(pick("mobile_share") + rng.normal(0.0, 0.1, n), 0.05, 0.95),
        propensity=propensity,
        signup_day=signup_day.astype(np.int64),
        churn_day=churn_day,
        fade_days=rng.integers(_FADE_DAYS[0], _FADE_DAYS[1] + 1, n),
    )


def build_population(customers: int, days: int, seed: int, replace_churners: bool = True) -> Population:
    """`customers` active at the start; each churner inside the `days` horizon is replaced by a
    newcomer of the same segment (who may churn and be replaced in turn)."""
    rng = np.random.default_rng([seed, STREAM_POPULATION])
    shares = np.array([s.share for s in SEGMENTS])
    segment = rng.choice(len(SEGMENTS), size=customers, p=shares / shares.sum())
    batches = [_draw(rng, segment, np.full(customers, -1))]
    while replace_churners:
        last = batches[-1]
        churned = last["churn_day"] < days
        signup = last["churn_day"][churned] + rng.integers(0, _NEWCOMER_DELAY_DAYS, churned.sum())
        joining = signup < days
        if not joining.any():
            break
        batches.append(_draw(rng, last["segment"][churned][joining], signup[joining]))
    merged = {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
    order = np.argsort(merged["signup_day"], kind="stable")
    merged = {k: v[order] for k, v in merged.items()}
    merged["churn_day"] = np.where(merged["churn_day"] < days, merged["churn_day"], NO_CHURN)
    return Population(**merged)


def purchase_amount_baseline(pop: Population, seed: int, samples: int = 200_000) -> dict[str, float]:
    """Mean, std and median of one purchase amount in the undrifted population (initial customers,
    weighted by how often they buy). Drift magnitudes are expressed in these units."""
    rng = np.random.default_rng([seed, STREAM_BASELINE])
    initial = np.flatnonzero(pop.signup_day < 0)
    weights = pop.purchase_rate[initial] / pop.purchase_rate[initial].sum()
    who = rng.choice(initial, size=samples, p=weights)
    amounts = np.exp(pop.log_median[who] + pop.sigma[who] * rng.standard_normal(samples))
    return {
        "purchase_amount_mean": round(float(amounts.mean()), 4),
        "purchase_amount_std": round(float(amounts.std()), 4),
        "purchase_amount_median": round(float(np.median(amounts)), 4),
    }
