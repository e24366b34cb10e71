import numpy as np
import pytest

from chainrule.datasets import DATASETS, load_dataset


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_builtin_datasets_load_without_download(name):
    data = load_dataset(name, seed=1)
    assert data.X.ndim == 2 and len(data.X) == len(data.y)
    assert np.isfinite(data.X).all()
    assert data.task in ("classification", "regression")
    assert len(data.feature_names) == data.X.shape[1]


def test_known_shapes_and_seeded_generators():
    digits = load_dataset("digits")
    assert digits.X.shape == (1797, 64) and set(np.unique(digits.y)) == set(range(10))
    assert digits.X.max() == 16
    iris = load_dataset("iris")
    assert iris.X.shape == (150, 4) and iris.class_names == ["setosa", "versicolor", "virginica"]
    a, b = load_dataset("moons", seed=3), load_dataset("moons", seed=3)
    assert np.array_equal(a.X, b.X)
    assert not np.array_equal(a.X, load_dataset("moons", seed=4).X)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        load_dataset("mnist")
