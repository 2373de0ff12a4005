"""Monte Carlo estimates as people read them: ``"1,234,567 ± 12,345"``.

Every printed estimate is its mean followed by the half-width of its 95%
confidence interval, ``Z95 * se``. Both numbers are rounded to the precision
the standard error (SE) allows: two significant digits of the SE (an SE of
12.3 shows whole numbers, one of 0.00065 five decimals), with the SE taken as
at least a millionth of the mean's size (so at most about seven significant
digits). A value without Monte Carlo error (an SE
of 0, or one below 1e-12, floating-point noise) is written with plain digits:
whole numbers from 1,000 on, else six significant digits.

Base layer: imports only the standard library and NumPy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: z value of a two-sided 95% normal interval: ``mean ± Z95 * se`` (the 97.5% standard normal quantile)
Z95 = 1.959963984540054

#: what :func:`estimate` prints, for table headers
LEGEND = "mean ± 95% CI half-width"

#: rounding never goes finer than this fraction of the value's size (about seven significant digits)
_FINEST = 1e-6
#: an SE smaller than this (in the value's unit) is floating-point noise, not Monte Carlo error
_NOISE = 1e-12


def interval(mean: Any, se: Any) -> tuple[Any, Any]:
    """The 95% confidence interval ``(mean - Z95 * se, mean + Z95 * se)``.

    Parameters
    ----------
    mean, se : float, numpy array or pandas Series
        Estimates and their standard errors, in the same unit.

    Returns
    -------
    tuple
        ``(low, high)``, of the inputs' type.
    """
    return mean - Z95 * se, mean + Z95 * se


def decimals(x: float, se: float) -> int | None:
    """Decimals that show ``x`` to the precision its standard error allows.

    Two significant digits of ``se``, at least 0, and no more than a
    millionth of ``|x|`` calls for. ``None`` when ``se`` gives no precision:
    zero, negative, NaN, infinite, or below 1e-12 (floating-point noise, as
    of a constant summed in a different order).
    """
    if not (math.isfinite(se) and se >= _NOISE):
        return None
    if math.isfinite(x):
        se = max(se, _FINEST * abs(x))
    return max(0, 1 - math.floor(math.log10(se)))


def _digits(x: float, places: int | None, signed: bool) -> str:
    if not math.isfinite(x):
        return "nan" if math.isnan(x) else ("+inf" if signed and x > 0 else f"{x}")
    sign = "+" if signed else ""
    if places is None:  # no Monte Carlo error: plain digits, no exponent for large values
        return f"{x:{sign},.0f}" if abs(x) >= 1000 else f"{x:{sign}.6g}"
    # NumPy's rounding (of the scaled value, half to even) rounds a decimal tie such as 0.11665 the same
    # way whether x came as a Python or a NumPy float; Python's round() would go by the binary value
    return f"{np.round(x, places):{sign},.{places}f}"


def rounded(x: float, se: float = 0.0, *, signed: bool = False) -> str:
    """A lone number rounded to the precision its standard error allows.

    Parameters
    ----------
    x : float
        The value.
    se : float
        Its standard error, in the unit of ``x``; 0 (default) for an exact value.
    signed : bool
        Write a ``+`` before positive values (for changes).

    Returns
    -------
    str
        E.g. ``rounded(1234.5678, 12.3) == "1,235"``,
        ``rounded(0.25556123, 0.00065) == "0.25556"``,
        ``rounded(11_440_000.0) == "11,440,000"``; ``"nan"`` or ``"inf"`` for
        a value that is not finite.
    """
    return _digits(float(x), decimals(float(x), float(se)), signed)


def estimate(mean: float, se: float, *, unit: str | None = None, signed: bool = False) -> str:
    """``"mean ± half-width"`` of a 95% confidence interval, both rounded to what the SE allows.

    Parameters
    ----------
    mean : float
        The estimate.
    se : float
        Its Monte Carlo standard error, in the unit of ``mean``.
    unit : str, optional
        Appended after a space, e.g. ``"EUR"`` gives ``"1,234 ± 56 EUR"``.
    signed : bool
        Write a ``+`` before a positive mean (for differences and changes).

    Returns
    -------
    str
        E.g. ``estimate(89_337_723.4, 438_000.0) == "89,337,723 ± 858,464"``,
        ``estimate(0.19613, 0.000541) == "0.19613 ± 0.00106"``.
        An SE of 0 gives ``"± 0"``, a NaN or infinite SE ``"± n/a"``; a mean
        that is not finite is written alone (``"nan"``).
    """
    mean, se = float(mean), float(se)
    if not math.isfinite(mean):
        text = _digits(mean, None, signed)
    else:
        places = decimals(mean, se)
        if not math.isfinite(se):
            half = "n/a"
        elif places is None:
            half = "0"
        else:
            half = _digits(Z95 * se, places, False)
        text = f"{_digits(mean, places, signed)} ± {half}"
    return f"{text} {unit}" if unit else text


#: header of the model-uncertainty column printed beside an estimate (see :func:`spread`)
MODEL_LEGEND = "model ± = 95% half-width of behavioural (model) uncertainty, Z95 x between-draw SD"


def spread(sd: float, mean: float, se: float) -> str:
    """``"± half-width"`` of a spread beside an estimate: ``Z95 * sd``, rounded as the estimate is.

    The model-uncertainty column of ensemble tables (:mod:`simlib.engine.ensemble`):
    ``sd`` is the between-draw SD over behavioural parameter draws, printed
    to the decimals :func:`estimate` uses for ``mean`` with Monte Carlo
    error ``se`` (all in the unit of ``mean``).

    Returns
    -------
    str
        E.g. ``spread(1_000_000.0, 89_337_723.4, 438_000.0) == "± 1,959,964"``;
        ``"± n/a"`` when ``sd`` is not finite.
    """
    sd, mean, se = float(sd), float(mean), float(se)
    if not math.isfinite(sd):
        return "± n/a"
    places = decimals(mean, se)
    if places is None:  # no Monte Carlo error: round the spread to its own precision
        places = decimals(Z95 * sd, sd / 10)
    return f"± {_digits(Z95 * sd, places, False)}" if places is not None else "± 0"
