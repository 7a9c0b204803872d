"""The declared precision of DOUBLE values the user reads: 15 significant digits, what a double
holds exactly. A SUM of cents in DOUBLE leaves `2977.8799999999997` or `957.4100000000001`; rounded
here they read 2977.88 and 957.41. Applied where such values leave the warehouse for a person or a
patch: served feature values (serving.publish) and the baseline's extremes and quantiles
(monitoring.baseline), from which clip bounds and imputed medians are taken (so a patch's
parameters, and the patch id hashed from them, carry no noise)."""

from __future__ import annotations

import math

DOUBLE_DIGITS = 15


def plain_double(value) -> float | None:
    """`value` as a float at the declared precision; None for a missing, NaN or infinite value."""
    if value is None:
        return None
    v = float(value)
    return None if math.isnan(v) or math.isinf(v) else float(f"{v:.{DOUBLE_DIGITS}g}")
