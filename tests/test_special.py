"""erf, erfc and the normal CDF (chainrule.special) against the standard library's, on dense
grids, tails included."""

import math

import numpy as np
import pytest

from chainrule.special import erf, erfc, normal_cdf_into


def relative_error(found, expected):
    expected = np.asarray(expected)
    return np.max(np.abs(found - expected) / np.maximum(np.abs(expected), 1e-300))


def test_erf_is_within_an_ulp_or_two_of_math_erf_everywhere():
    x = np.concatenate([np.linspace(-7.0, 7.0, 140_001), np.logspace(-300, 0.9, 3000),
                        -np.logspace(-300, 0.9, 3000), np.linspace(7.0, 40.0, 500),
                        [0.0, -0.0, 0.5, -0.5, np.nextafter(0.5, 0.0), 1e-320]])
    expected = np.array([math.erf(v) for v in x])
    assert relative_error(erf(x), expected) < 1e-15


def test_erfc_is_within_a_few_ulp_of_math_erfc_until_it_underflows():
    x = np.linspace(-6.0, 26.5, 325_001)
    expected = np.array([math.erfc(v) for v in x])
    assert relative_error(erfc(x), expected) < 2e-15
    assert erfc(np.array([27.5]))[0] == 0.0


def test_the_limits_and_nan():
    np.testing.assert_array_equal(erf([np.inf, -np.inf]), [1.0, -1.0])
    np.testing.assert_array_equal(erfc([np.inf, -np.inf]), [0.0, 2.0])
    assert np.isnan(erf([np.nan])[0]) and np.isnan(erfc([np.nan])[0])
    assert erf([-0.0])[0] == 0.0 and erf([1e-310])[0] == pytest.approx(1e-310 * 2 / math.sqrt(
        math.pi), rel=1e-12)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 3e-15), (np.float32, 3e-6)])
def test_the_normal_cdf_into_buffers(dtype, tolerance):
    z = np.linspace(-6.0, 6.0, 24_001).astype(dtype)
    out, scratch = np.empty_like(z), np.empty_like(z)
    result = normal_cdf_into(z, out, scratch)
    assert result is out and out.dtype == dtype
    # math.erfc's argument z / sqrt(2) is itself rounded: the reference is good to ~z^2 ulp
    expected = np.array([0.5 * math.erfc(-float(v) / math.sqrt(2.0)) for v in z])
    assert relative_error(out.astype(np.float64), expected) < tolerance + 8e-15 * (
        dtype == np.float64)
    assert normal_cdf_into(np.zeros(1), np.empty(1), np.empty(1))[0] == 0.5
