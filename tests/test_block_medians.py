"""block_medians.median_of: numpy's median to the bit, in a few passes over slices."""

import numpy as np
import pytest

from chainrule.block_medians import SMALL, median_of


def _cases():
    rng = np.random.default_rng(0)
    n = 3 * SMALL + 17  # several slices, the last one short
    normal = rng.normal(size=n)
    with_nan = normal.copy()
    with_nan[rng.integers(0, n, 5000)] = np.nan
    ties = rng.integers(0, 5, n).astype(float)
    ordered = np.sort(normal)
    # A pattern whose period is the sample's stride: the evenly spaced sample sees one value
    # only, the bracket misses the middle and every value is selected instead.
    stride = n // 16384
    periodic = np.tile(np.arange(stride, dtype=float), n // stride + 1)[:n]
    sparse = np.full(n, np.nan)  # no value where the sample looks
    sparse[1::2][:10] = rng.normal(size=10)
    return {"sparse": sparse, "normal": normal, "with nan": with_nan, "ties": ties,
            "ordered": ordered, "even count": normal[:-1], "periodic": periodic,
            "small": normal[:1001]}


@pytest.mark.parametrize("name", list(_cases()))
def test_the_median_is_numpys(name):
    values = _cases()[name]
    expected = np.median(values[~np.isnan(values)])
    assert median_of(values) == expected
    assert median_of(values, int(np.isnan(values).sum())) == expected


def test_no_value_gives_nan_and_huge_values_give_inf_quietly():
    assert np.isnan(median_of(np.full(10, np.nan)))
    huge = np.full(4, np.finfo(float).max)
    with np.errstate(over="raise"):
        assert median_of(huge) == np.inf
