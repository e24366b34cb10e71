import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
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


# ---------------------------------------------------------------------------- stopping on tol
def mlp_stop_epoch(losses, tol, n_iter_no_change):
    """The epoch (from 1) after which scikit-learn's MLP stops for these per-epoch losses
    (``_update_no_improvement_count``, then ``count > n_iter_no_change``), or None."""
    best, count = np.inf, 0
    for epoch, loss in enumerate(losses, 1):
        count = count + 1 if loss > best - tol else 0
        best = min(best, loss)
        if count > n_iter_no_change:
            return epoch
    return None


def linear_data(n=100, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X @ [1.0, -2.0, 0.5] + noise * rng.normal(size=n)


def fit_without_warnings(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # also overrides pyproject's filter of this warning
        return model.fit(X, y)


@pytest.mark.parametrize("make, data", [
    (lambda: GDRegressor(hidden_layer_sizes=(10,), learning_rate=0.05, epochs=1000,
                         random_state=0), linear_data),
    (lambda: GDClassifier(hidden_layer_sizes=(10,), learning_rate=0.05, epochs=1000,
                          random_state=0),
     lambda: make_classification(n_samples=200, n_features=4, n_informative=3, n_redundant=0,
                                 random_state=0)),
])
def test_a_fit_that_converges_stops_on_tol_without_warning(make, data):
    X, y = data()
    model = fit_without_warnings(make(), X, y)
    assert model.n_iter_ < 1000
    assert model.n_iter_ == len(model.loss_curve_) == mlp_stop_epoch(model.loss_curve_, 1e-4, 10)
    assert model.best_loss_ == min(model.loss_curve_)
    assert model.validation_scores_ is None and model.best_validation_score_ is None
    assert model.history_.stopped_reason.startswith("training loss did not improve")


def test_a_fit_that_cannot_converge_in_epochs_warns():
    X, y = linear_data()
    # Full-batch gradient descent with a small step: every epoch improves by more than tol.
    model = GDRegressor(hidden_layer_sizes=(10,), optimizer="gd", learning_rate=0.01,
                        batch_size=None, epochs=50, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(50\) reached"):
        model.fit(X, y)
    assert np.all(np.diff(model.loss_curve_) < -1e-4)
    assert model.n_iter_ == 50


def test_tol_zero_stops_only_when_the_loss_stops_going_down():
    X, y = linear_data()
    settings = dict(hidden_layer_sizes=(10,), optimizer="gd", learning_rate=0.05,
                    batch_size=None, epochs=1500, random_state=0)
    # The loss of full-batch gd goes down every epoch, ever more slowly: the default tol ends
    # training once 11 epochs in a row gain less than 1e-4; tol=0 never does.
    default = fit_without_warnings(GDRegressor(**settings), X, y)
    assert default.n_iter_ == mlp_stop_epoch(default.loss_curve_, 1e-4, 10) < 1500
    with pytest.warns(ConvergenceWarning):
        exact = GDRegressor(tol=0.0, **settings).fit(X, y)
    assert exact.n_iter_ == 1500
    assert np.all(np.diff(exact.loss_curve_) < 0)
    np.testing.assert_array_equal(exact.loss_curve_[:default.n_iter_], default.loss_curve_)


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("n_iter_no_change", [1, 3, 10])
def test_a_large_tol_stops_after_n_iter_no_change_plus_two_epochs(early_stopping,
                                                                   n_iter_no_change):
    X, y = linear_data()
    # The first epoch always improves (on infinity); no later one gains 1e9: MLP's n_iter_.
    model = fit_without_warnings(GDRegressor(tol=1e9, n_iter_no_change=n_iter_no_change,
                                             early_stopping=early_stopping, random_state=0),
                                 X, y)
    assert model.n_iter_ == n_iter_no_change + 2


def test_warm_start_goes_on_counting_like_mlp():
    X, y = linear_data()
    model = fit_without_warnings(GDRegressor(tol=1e9, warm_start=True, random_state=0), X, y)
    assert model.n_iter_ == 12
    fit_without_warnings(model, X, y)  # the count is already past n_iter_no_change
    assert model.n_iter_ == 1
    assert len(model.loss_curve_) == 13 and model.best_loss_ == min(model.loss_curve_)


def test_early_stopping_monitors_the_validation_loss_and_keeps_the_best_weights():
    X, y = linear_data(n=120, noise=0.5, seed=1)
    model = GDRegressor(hidden_layer_sizes=(32,), learning_rate=0.05, epochs=500,
                        early_stopping=True, validation_fraction=0.25, random_state=0)
    fit_without_warnings(model, X, y)
    validation_losses = [-score for score in model.validation_scores_]
    assert model.n_iter_ == mlp_stop_epoch(validation_losses, 1e-4, 10) < 500
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert model.best_loss_ is None  # as MLP's: the validation score is what is tracked
    # The rows held out (the estimator's split, drawn from the freshly made network's
    # generator): the weights kept are the best epoch's, not the last one's.
    held = model._new_network(3, 1, X.dtype).rng.permutation(120)[:30]
    kept_loss, _ = model.network_.evaluate(X[held], y[held, None])
    assert kept_loss == pytest.approx(min(validation_losses))
    assert kept_loss < validation_losses[-1]


@pytest.mark.parametrize("settings, message", [
    (dict(tol=-1e-4), "tol must be a finite number >= 0"),
    (dict(tol="small"), "tol must be a number"),
    (dict(n_iter_no_change=0), "n_iter_no_change must be an integer >= 1"),
])
def test_bad_stopping_settings_are_refused(settings, message):
    X, y = linear_data()
    with pytest.raises(ValueError, match=message):
        GDRegressor(**settings).fit(X, y)
