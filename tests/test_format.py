"""How estimates are written: one formatter (simlib.format) for every table and report."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from simlib import format as fmt
from simlib.format import Z95, estimate, interval, rounded


def test_z95_is_the_normal_quantile_of_a_95_percent_interval():
    assert Z95 == pytest.approx(norm.ppf(0.975), abs=1e-12)


def test_one_z_value_for_every_interval_in_simlib():
    from simlib.model import metrics

    assert metrics.Z95 is fmt.Z95  # the quantile CI of tail metrics uses the same z
    lo, hi = interval(10.0, 2.0)
    assert (lo, hi) == (10.0 - Z95 * 2.0, 10.0 + Z95 * 2.0)
    mean, se = pd.Series([1.0, -3.0]), pd.Series([0.5, 0.0])
    lo, hi = interval(mean, se)
    pd.testing.assert_series_equal(hi - lo, 2 * Z95 * se)
    assert list(lo[se == 0]) == list(mean[se == 0])


def test_rounded_to_two_significant_digits_of_the_se():
    assert rounded(1234.5678, 12.3) == "1,235"
    assert rounded(0.25556123, 0.00065) == "0.25556"
    assert rounded(0.25556123, 0.0065) == "0.2556"
    assert rounded(89_337_723.4, 438_459.0) == "89,337,723"  # never rounds into the integer digits
    assert rounded(1.5, 0.5) == "1.50"  # trailing zeros show the precision


def test_exact_values_have_plain_digits_without_exponent():
    assert rounded(11_440_000.0) == "11,440,000"
    assert rounded(18_000.0, 0.0) == "18,000"
    assert rounded(0.5, 0.0) == "0.5"
    assert rounded(1.4419112345, 0.0) == "1.44191"  # six significant digits below 1,000


@pytest.mark.parametrize("se", [0.0, -1.0, math.nan, math.inf, 1e-151])
def test_se_without_precision_gives_plain_digits(se):
    # zero, negative, NaN, infinite, or floating-point noise: no Monte Carlo digits to go by
    assert rounded(0.5, se) == "0.5"
    assert rounded(12_345.6, se) == "12,346"


def test_rounding_stops_at_a_millionth_of_the_value():
    assert rounded(0.25, 1e-9) == "0.25000000"
    assert estimate(0.25, 1e-9) == "0.25000000 ± 0.00000000"
    assert estimate(11_440_000.0, 3e-9) == "11,440,000 ± 0"


def test_negative_numbers():
    assert rounded(-1234.5678, 12.3) == "-1,235"
    assert estimate(-0.007144, 0.0000449) == "-0.007144 ± 0.000088"
    assert estimate(-1_407_571.2, 10_587.0) == "-1,407,571 ± 20,750"


def test_estimate_is_mean_and_ci_half_width_at_one_precision():
    assert estimate(89_337_723.4, 438_000.0) == "89,337,723 ± 858,464"
    assert estimate(0.19613, 0.000541) == "0.19613 ± 0.00106"
    text = estimate(3.0, 0.1234)
    mean, half = (float(s) for s in text.split(" ± "))
    assert half == pytest.approx(Z95 * 0.1234, abs=0.005)
    assert text == "3.00 ± 0.24"  # both numbers to the SE's precision


def test_estimate_without_monte_carlo_error():
    assert estimate(11_440_000.0, 0.0) == "11,440,000 ± 0"
    assert estimate(0.0, 1e-151) == "0 ± 0"  # e.g. a probability estimated as exactly 0
    assert estimate(0.5, 1e-17) == estimate(0.5, 0.0) == "0.5 ± 0"
    assert estimate(0.18, math.nan) == "0.18 ± n/a"
    assert estimate(0.18, math.inf) == "0.18 ± n/a"


def test_estimate_of_a_value_that_is_not_finite():
    assert estimate(math.nan, 1.0) == "nan"
    assert estimate(math.inf, 1.0) == "inf" and estimate(-math.inf, 1.0) == "-inf"
    assert rounded(math.nan, 1.0) == "nan"


def test_signed_for_changes():
    assert estimate(-8_118.3, 163.0, signed=True) == "-8,118 ± 319"
    assert estimate(1_598_988.0, 39_000.0, signed=True) == "+1,598,988 ± 76,439"
    assert estimate(0.0, 0.0, signed=True) == "+0 ± 0"
    assert rounded(0.0934, 0.0021, signed=True) == "+0.0934"


def test_units_are_appended_only_when_given():
    assert estimate(1234.0, 12.0, unit="EUR") == "1,234 ± 24 EUR"
    assert estimate(12.3, 0.4, unit="%") == "12.30 ± 0.78 %"
    assert estimate(1234.0, 12.0) == "1,234 ± 24"


def test_accepts_numpy_scalars():
    assert estimate(np.float64(0.5), np.float64(0.01)) == estimate(0.5, 0.01) == "0.500 ± 0.020"
    assert rounded(np.float32(2.0), np.int64(0)) == "2"


@pytest.mark.parametrize("x, text", [(0.11665, "0.1166"), (0.23015, "0.2302")])
def test_decimal_ties_round_alike_for_python_and_numpy_floats(x, text):
    # tables hold NumPy floats, reports often Python floats: the same number must print the same
    assert rounded(x, 0.0026) == rounded(np.float64(x), 0.0026) == text
