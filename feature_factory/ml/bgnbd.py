"""BG/NBD, the beta-geometric / negative binomial purchase model (Fader, Hardie & Lee 2005,
"Counting your customers the easy way", Marketing Science 24(2)): the probabilistic peer our churn
model is measured against (issue 26). No Dagster, no warehouse: arrays in, numbers out.

Each customer is summarised by three numbers, all in one time unit (days or weeks):
- `x`: repeat purchases (purchase days after the first one),
- `t_x`: time from the first purchase to the last one (0 when x = 0),
- `T`: time from the first purchase to the end of the observation (the scoring time).

While alive, a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after each
purchase they drop out with probability p ~ Beta(a, b). The four parameters are fitted by maximum
likelihood (equation 6 of the paper) with scipy; the closed forms below then give, per customer,
P(alive), the expected purchases in the next t, and P(no purchase in the next t): the churn score
on the same "no purchase on [L, L + horizon)" definition as `churn_labels`.

P(no purchase in (T, T + t]) = 1 - P(alive) + P(alive) * ((alpha + T) / (alpha + T + t))^(r + x):
an alive customer drops out only right after a purchase, so a zero count over the window only needs
no Poisson event, and given alive, lambda's posterior is Gamma(r + x, alpha + T).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


class BGNBDError(ValueError):
    """The data cannot be fitted or scored; the message says what is wrong."""


@dataclass(frozen=True)
class BGNBDParams:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    customers: int = 0

    def as_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b,
                "log_likelihood": self.log_likelihood, "customers": self.customers}


def _arrays(x, t_x, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    if not (x.shape == t_x.shape == T.shape):
        raise BGNBDError(f"x, t_x and T must have one value per customer; shapes {x.shape}, {t_x.shape}, {T.shape}")
    bad = ~np.isfinite(x) | ~np.isfinite(t_x) | ~np.isfinite(T) | (x < 0) | (t_x < 0) | (t_x > T + 1e-9)
    bad |= (x == 0) & (t_x > 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise BGNBDError(
            f"{int(bad.sum())} customer(s) have an impossible summary, e.g. row {i}: x={x[i]}, t_x={t_x[i]}, "
            f"T={T[i]} (need x >= 0, 0 <= t_x <= T, and t_x = 0 when x = 0)")
    return x, t_x, T


def log_likelihood(params: tuple[float, float, float, float], x, t_x, T) -> np.ndarray:
    """Each customer's log-likelihood (FHL 2005, equation 6)."""
    from scipy.special import betaln, gammaln

    r, alpha, a, b = params
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        # The dropped-out-after-the-last-purchase branch, only for customers with repeat purchases.
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
                      -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def fit(x, t_x, T, *, initial: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)) -> BGNBDParams:
    """Maximum-likelihood r, alpha, a, b (optimised on their logs, so they stay positive)."""
    from scipy.optimize import minimize

    x, t_x, T = _arrays(x, t_x, T)
    if len(x) < 10:
        raise BGNBDError(f"only {len(x)} customers: BG/NBD needs at least 10 to fit four parameters")
    if not (x > 0).any():
        raise BGNBDError("no customer has a repeat purchase: BG/NBD cannot separate purchase rate from dropout")
    # Customers with identical summaries contribute identical terms: fit on the distinct ones.
    frame = pd.DataFrame({"x": x, "t_x": t_x, "T": T})
    grouped = frame.groupby(["x", "t_x", "T"]).size().reset_index(name="n")
    gx, gt, gT, n = (grouped[c].to_numpy(dtype=float) for c in ("x", "t_x", "T", "n"))

    def negll(logp: np.ndarray) -> float:
        value = -float(np.sum(n * log_likelihood(tuple(np.exp(logp)), gx, gt, gT)))
        return value if np.isfinite(value) else 1e300

    best = None
    for method in ("Nelder-Mead", "L-BFGS-B"):
        start = np.log(initial) if best is None else best.x
        res = minimize(negll, start, method=method,
                       options={"maxiter": 5000, "xatol": 1e-7, "fatol": 1e-9} if method == "Nelder-Mead" else {})
        if best is None or res.fun <= best.fun:
            best = res
    r, alpha, a, b = (float(v) for v in np.exp(best.x))
    return BGNBDParams(r, alpha, a, b, log_likelihood=-float(best.fun), customers=len(x))


def p_alive(params: BGNBDParams, x, t_x, T) -> np.ndarray:
    """P(the customer has not dropped out by T | x, t_x, T) (FHL 2005, equation 13)."""
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_ratio = (np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                     + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)))
        odds = np.where(x > 0, np.exp(log_ratio), 0.0)
    return 1.0 / (1.0 + odds)


def expected_purchases(params: BGNBDParams, t: float, x, t_x, T) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T] (FHL 2005, equation 10)."""
    from scipy.special import hyp2f1

    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if abs(a - 1) < 1e-9:  # equation 10 divides by a - 1 (any other a works, a < 1 included)
        raise BGNBDError(f"the conditional expectation is undefined at a = 1 (fitted a = {a:.6f})")
    z = t / (alpha + T + t)
    head = (a + b + x - 1) / (a - 1)
    inner = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    return head * inner * p_alive(params, x, t_x, T)


def p_no_purchase(params: BGNBDParams, t: float, x, t_x, T) -> np.ndarray:
    """P(no purchase in (T, T + t] | x, t_x, T): the BG/NBD churn score for a horizon t."""
    x, t_x, T = _arrays(x, t_x, T)
    if t <= 0:
        raise BGNBDError(f"the horizon t must be > 0, got {t}")
    alive = p_alive(params, x, t_x, T)
    silent_if_alive = ((params.alpha + T) / (params.alpha + T + t)) ** (params.r + x)
    return 1 - alive + alive * silent_if_alive


def summarize(purchases: pd.DataFrame, as_of, *, unit_days: float = 1.0,
              customer: str = "customer_id", date: str = "event_date") -> pd.DataFrame:
    """(x, t_x, T) per customer from purchase rows dated before `as_of` (a label date L: the
    history known at the start of day L). Several purchases on one day count as one (the model's
    unit is a purchase occasion); T runs from the first purchase day to `as_of`."""
    as_of = pd.Timestamp(as_of)
    days = pd.to_datetime(purchases[date]).dt.normalize()
    seen = purchases.loc[days < as_of, [customer]].assign(day=days[days < as_of]).drop_duplicates()
    if seen.empty:
        return pd.DataFrame(columns=[customer, "x", "t_x", "T"])
    g = seen.groupby(customer)["day"].agg(["min", "max", "count"])
    return pd.DataFrame({
        customer: g.index,
        "x": (g["count"] - 1).to_numpy(dtype=float),
        "t_x": ((g["max"] - g["min"]).dt.days / unit_days).to_numpy(dtype=float),
        "T": ((as_of - g["min"]).dt.days / unit_days).to_numpy(dtype=float),
    }).reset_index(drop=True)
