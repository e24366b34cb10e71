import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from chainrule.sklearn import GDClassifier, GDRegressor  # noqa: E402

# Checks expected to fail, with the reason (also listed in the README).
EXPECTED_FAILED = {}


@parametrize_with_checks(
    [GDClassifier(random_state=0, epochs=60), GDRegressor(random_state=0, epochs=60)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_classifier_learns_multiclass_and_reports_like_mlp():
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, n_classes=3,
                               random_state=0)
    model = GDClassifier(hidden_layer_sizes=(20,), epochs=100, learning_rate=0.01,
                         random_state=0).fit(X, y)
    assert model.score(X, y) > 0.85
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert [c.shape for c in model.coefs_] == [(6, 20), (20, 3)]
    assert model.n_iter_ == len(model.loss_curve_) == 100


def test_partial_fit_and_warm_start():
    X, y = make_classification(n_samples=100, n_features=4, random_state=1)
    model = GDClassifier(hidden_layer_sizes=(5,), random_state=0)
    model.partial_fit(X, y, classes=[0, 1])
    model.partial_fit(X, y)
    assert model.t_ == 2 * 1  # one batch of 200 covers the 100 rows: one update per call
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(X[:, :3], y)


def test_regressor_multi_output_and_early_stopping():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    Y = np.c_[X[:, 0] - X[:, 1], 2 * X[:, 2]]
    model = GDRegressor(hidden_layer_sizes=(16,), learning_rate=0.01, epochs=300,
                        early_stopping=True, random_state=0).fit(X, Y)
    assert model.predict(X).shape == (200, 2)
    assert model.score(X, Y) > 0.9
    assert hasattr(model, "best_validation_score_")
