"""Weights per sample: the weighted mean of the loss, through fit, the estimators and the engine."""

import copy

import numpy as np
import pytest
from dask_cluster import local_client

from chainrule import Network
from chainrule.engine import Engine
from chainrule.losses import LOSSES, check_sample_weight


def problem(n=7, seed=2, k=2):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)), rng.normal(size=(n, k))


def network(loss="squared_error", output="identity", k=2, seed=4):
    return Network([3, 5, k], activation="tanh", output_activation=output, loss=loss, seed=seed)


WEIGHTS = np.array([1.0, 3.0, 0.0, 2.0, 1.0, 1.0, 4.0])


@pytest.mark.parametrize("loss, output", [("squared_error", "identity"), ("mse", "tanh"),
                                          ("binary_cross_entropy", "sigmoid"),
                                          ("categorical_cross_entropy", "softmax"),
                                          ("categorical_cross_entropy", "sigmoid")])
def test_integer_weights_train_as_repeated_rows(loss, output):
    X, Y = problem()
    if loss != "squared_error" and loss != "mse":
        Y = np.random.default_rng(0).dirichlet(np.ones(2), size=len(X))
    weighted, repeated = network(loss, output), network(loss, output)
    history = weighted.fit(X, Y, epochs=6, learning_rate=0.1, optimizer="adam",
                           sample_weight=WEIGHTS, progress=False)
    rows = np.repeat(np.arange(len(X)), WEIGHTS.astype(int))
    expected = repeated.fit(X[rows], Y[rows], epochs=6, learning_rate=0.1, optimizer="adam",
                            progress=False)
    np.testing.assert_allclose(weighted.flat_parameters(), repeated.flat_parameters(),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-12)
    assert history.params["sample_weight"] is True


def test_the_error_reported_is_the_weighted_mean():
    X, Y = problem()
    net = network()
    per_row = np.sum((net.predict(X) - Y) ** 2, axis=1)
    expected = np.sum(WEIGHTS * per_row) / WEIGHTS.sum()
    assert Engine.evaluate(net, X, Y, WEIGHTS)[0] == pytest.approx(expected, rel=1e-13)
    history = network().fit(X, Y, epochs=1, sample_weight=WEIGHTS, progress=False)
    assert history["loss"][0] == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_row_values_average_to_the_loss(name):
    rng = np.random.default_rng(1)
    predicted = rng.uniform(0.05, 0.95, size=(5, 3))
    predicted /= predicted.sum(axis=1, keepdims=True)
    target = rng.dirichlet(np.ones(3), size=5)
    loss = LOSSES[name]
    assert np.mean(loss.row_values(predicted, target)) == pytest.approx(
        loss.value(predicted, target), rel=1e-13)


OUTPUTS = [("categorical_cross_entropy", "softmax"), ("categorical_cross_entropy", "sigmoid"),
           ("binary_cross_entropy", "sigmoid"), ("mse", "identity"), ("squared_error", "tanh")]


def wide_problem(loss, output, rows=40, seed=6):
    rng = np.random.default_rng(seed)
    net = Network([6, 9, 4], activation="relu", output_activation=output, loss=loss, seed=1)
    Y = np.eye(4)[rng.integers(0, 4, rows)]
    return net, *net.check_data(rng.normal(size=(rows, 6)), Y), rng.uniform(0, 2, rows)


@pytest.mark.parametrize("loss, output", OUTPUTS)
def test_the_weighted_step_is_the_mean_step_reweighed(loss, output):
    """Each row's error computed once (into a buffer of the workspace) gives what the mean's
    error and delta, reweighed by :func:`weigh_rows`, give."""
    from chainrule.losses import weigh_rows

    net, X, Y, weights = wide_problem(loss, output)
    error = net.compute_gradients(X, Y, None, weights)
    gradient = net.flat_gradients().copy()
    workspace = net.workspace(X.shape[0])
    net.forward(X, workspace)
    net.output_delta(Y, workspace)  # the mean's delta, then reweighed
    last, function = net._last, net.activation_functions[-1]
    sop = workspace.sops[last] if net.loss_function.combines_with(function) else None
    expected = weigh_rows(net.loss_function, workspace.outputs[last], Y, sop,
                          workspace.deltas[last], weights)
    net.backward(X, workspace)
    assert error == pytest.approx(expected, rel=1e-13)
    np.testing.assert_allclose(gradient, net.flat_gradients(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss, output", [o for o in OUTPUTS if o[1] != "sigmoid"
                                          or o[0] == "binary_cross_entropy"])
def test_a_weighted_step_allocates_no_more_than_the_mean_step(loss, output):
    import tracemalloc

    net, X, Y, weights = wide_problem(loss, output, rows=400)
    peaks = []
    for w in (None, weights):
        net.compute_gradients(X, Y, None, w)  # warm: the workspace
        tracemalloc.start()
        try:
            net.compute_gradients(X, Y, None, w)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] <= peaks[0] + 1024  # a row's errors alone: 3.2 kB


def test_mini_batches_weigh_by_the_batch_own_sum_of_weights():
    """Each batch's gradient is its weighted mean (normalised by the batch's weights, as
    scikit-learn's MLP); the epoch's loss the weighted mean of the batches' losses."""
    X, Y = problem(n=6)
    weights = np.array([1.0, 2.0, 3.0, 1.0, 1.0, 2.0])
    net = network()
    history = net.copy().fit(X, Y, epochs=1, batch_size=3, shuffle=False, learning_rate=0.1,
                             sample_weight=weights, progress=False)
    by_hand, losses = net.copy(), []
    for rows in (slice(0, 3), slice(3, 6)):
        w = weights[rows]
        per_row = np.sum((by_hand.predict(X[rows]) - Y[rows]) ** 2, axis=1)
        losses.append(np.sum(w * per_row) / w.sum())
        repeated = np.repeat(np.arange(6)[rows], w.astype(int))
        weight_grads, bias_grads = by_hand.gradients(X[repeated], Y[repeated])
        for p, g in zip([*by_hand.weights, *by_hand.biases], [*weight_grads, *bias_grads]):
            p -= 0.1 * g
    expected = (losses[0] * weights[:3].sum() + losses[1] * weights[3:].sum()) / weights.sum()
    assert history["loss"][0] == pytest.approx(expected, rel=1e-13)


def test_shuffled_mini_batches_gather_the_weights_with_their_rows():
    X, Y = problem(n=9)
    weights = np.arange(1.0, 10.0)
    runs = [network().fit(X, Y, epochs=3, batch_size=4, learning_rate=0.1, progress=False,
                          sample_weight=weights)["loss"] for _ in range(2)]
    assert runs[0] == runs[1]
    unweighted = network().fit(X, Y, epochs=3, batch_size=4, learning_rate=0.1,
                               progress=False)["loss"]
    assert runs[0] != unweighted


def test_ones_change_nothing_and_a_zero_weight_drops_the_row():
    X, Y = problem()
    plain = network()
    plain.fit(X, Y, epochs=4, learning_rate=0.1, progress=False)
    ones = network()
    ones.fit(X, Y, epochs=4, learning_rate=0.1, progress=False, sample_weight=np.ones(7))
    assert np.array_equal(plain.flat_parameters(), ones.flat_parameters())
    dropped, kept = network(), network()
    dropped.fit(X, Y, epochs=4, learning_rate=0.1, progress=False,
                sample_weight=[0, 1, 1, 1, 1, 1, 1])
    kept.fit(X[1:], Y[1:], epochs=4, learning_rate=0.1, progress=False)
    np.testing.assert_allclose(dropped.flat_parameters(), kept.flat_parameters(), rtol=1e-13)


def test_a_batch_whose_weights_are_all_zero_weighs_nothing():
    X, Y = problem(n=4)
    net = network()
    trainer = net.trainer(X, Y, epochs=1, batch_size=2, shuffle=False, learning_rate=0.1,
                          sample_weight=[0, 0, 1, 1], progress=False)
    before = net.flat_parameters().copy()
    step = trainer.step()
    assert step.loss == 0.0
    assert np.array_equal(net.flat_parameters(), before)  # gd on a zero gradient


def test_the_slices_of_a_large_batch_carry_their_weights():
    X, Y = problem(n=7)
    whole, sliced = network(), network()
    sliced.rows_per_slice = 3
    errors = [n.compute_gradients(*n.check_data(X, Y), None, WEIGHTS) for n in (whole, sliced)]
    assert errors[1] == pytest.approx(errors[0], rel=1e-13)
    np.testing.assert_allclose(sliced.flat_gradients(), whole.flat_gradients(), rtol=1e-12,
                               atol=1e-15)
    assert Engine.evaluate(sliced, X, Y, WEIGHTS)[0] == pytest.approx(errors[0], rel=1e-13)


def test_float32_networks_keep_float32_weights():
    X, Y = problem()
    net = Network([3, 4, 2], dtype="float32", seed=1)
    history = net.fit(X, Y, epochs=2, sample_weight=WEIGHTS, progress=False)
    assert net.flat_parameters().dtype == np.float32 and np.isfinite(history["loss"]).all()


def test_a_checkpoint_refuses_other_weights():
    """(A run with weights resumes bit for bit: tests/test_regularisation.py.)"""
    X, Y = problem(n=10)
    weights = np.linspace(0.5, 2.0, 10)
    options = dict(epochs=3, learning_rate=0.05, batch_size=3, progress=False,
                   sample_weight=weights, optimizer="adam")
    trainer = network().trainer(X, Y, **options)
    for _ in range(5):
        trainer.step()
    state = copy.deepcopy(trainer.state_dict())
    assert network().trainer(X, Y, **options).load_state_dict(state) is None  # the same data
    elsewhere = network().trainer(X, Y, **{**options, "sample_weight": weights[::-1]})
    with pytest.raises(ValueError, match="other training data"):
        elsewhere.load_state_dict(state)


@pytest.mark.parametrize("weights, message", [
    ([1, -1, 1], ">= 0"), ([1, 2], "one weight per sample"), ([1, np.nan, 1], "finite"),
    ([0, 0, 0], "every weight is zero"), ([[1, 1], [1, 1], [1, 1]], "one weight per sample"),
    (["a", "b", "c"], "numbers"), ([1, np.inf, 1], "finite"),
])
def test_bad_weights_are_refused_clearly(weights, message):
    with pytest.raises(ValueError, match=message):
        check_sample_weight(weights, 3)
    X, Y = problem(n=3)
    with pytest.raises(ValueError, match=message):
        network().fit(X, Y, epochs=1, sample_weight=weights)


# ---------------------------------------------------------------------- scikit-learn
def test_the_estimators_take_sample_weight_as_repeated_rows():
    pytest.importorskip("sklearn")
    from chainrule.sklearn import GDClassifier, GDRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = (X[:, 0] > 0).astype(int)
    weights = rng.integers(0, 4, size=30)
    rows = np.repeat(np.arange(30), weights)
    settings = dict(hidden_layer_sizes=(4,), epochs=20, random_state=0, batch_size=None,
                    tol=0.0, n_iter_no_change=1000)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for model in (GDClassifier, GDRegressor):
            target = y if model is GDClassifier else X[:, 1]
            weighted = model(**settings).fit(X, target, sample_weight=weights)
            repeated = model(**settings).fit(X[rows], target[rows])
            np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-12)
            np.testing.assert_allclose(weighted.coefs_[0], repeated.coefs_[0], rtol=1e-11,
                                       atol=1e-14)


def test_class_weight_balanced_weighs_each_class_by_its_rarity():
    pytest.importorskip("sklearn")
    from chainrule._sklearn_weights import row_weights
    from chainrule.sklearn import GDClassifier

    y = np.array(["a", "a", "a", "b"])
    balanced = row_weights(None, "balanced", y, False, 4)
    np.testing.assert_allclose(balanced, [4 / 6, 4 / 6, 4 / 6, 2.0])  # n / (classes * count)
    np.testing.assert_allclose(row_weights([1, 2, 1, 1], {"b": 3.0}, y, False, 4),
                               [1, 2, 1, 3])
    X = np.random.default_rng(1).normal(size=(4, 2))
    settings = dict(hidden_layer_sizes=(3,), epochs=5, random_state=0, batch_size=None)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_class = GDClassifier(class_weight="balanced", **settings).fit(X, y)
        by_row = GDClassifier(**settings).fit(X, y, sample_weight=balanced)
    np.testing.assert_allclose(by_class.loss_curve_, by_row.loss_curve_, rtol=1e-13)
    with pytest.raises(ValueError, match="class_weight"):
        GDClassifier(class_weight="rare", **settings).fit(X, y)


@pytest.mark.parametrize("schedule", [None, "plateau"])
def test_early_stopping_weighs_the_validation_loss(schedule):
    """As scikit-learn weighs its validation score: the held-out rows' weighted mean loss is
    what early stopping (and a plateau schedule) follow, and the best epoch's is kept."""
    pytest.importorskip("sklearn")
    import warnings

    from chainrule.sklearn import GDRegressor

    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(scale=0.3, size=40)
    weights = rng.uniform(0.0, 3.0, size=40)
    settings = dict(hidden_layer_sizes=(4,), early_stopping=True, validation_fraction=0.25,
                    epochs=8, random_state=0, batch_size=10, learning_rate=0.01,
                    schedule=schedule)
    estimator = GDRegressor(**settings)
    held = estimator._new_network(3, 1, X.dtype).rng.permutation(40)[:10]  # the split's draw
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X, y, sample_weight=weights)
        plain = GDRegressor(**settings).fit(X, y, sample_weight=np.where(
            np.isin(np.arange(40), held), 1.0, weights))  # the same training, held rows 1
    net, Y = estimator.network_, y[:, None]
    weighted = Engine.evaluate(net, X[held], Y[held], weights[held])[0]
    assert -estimator.best_validation_score_ == pytest.approx(weighted, rel=1e-12)
    assert max(estimator.validation_scores_) == estimator.best_validation_score_
    assert estimator.history_["val_loss"] == [-v for v in estimator.validation_scores_]
    assert not np.isclose(weighted, Engine.evaluate(net, X[held], Y[held])[0])
    np.testing.assert_allclose(estimator.loss_curve_[:1], plain.loss_curve_[:1], rtol=1e-12)
    assert estimator.validation_scores_ != plain.validation_scores_


def test_partial_fit_refuses_balanced_but_takes_a_dict():
    """``"balanced"`` from one call's ``y`` would weigh each call's classes differently."""
    pytest.importorskip("sklearn")
    from chainrule.sklearn import GDClassifier

    X = np.random.default_rng(2).normal(size=(6, 2))
    y = np.array([0, 0, 0, 0, 1, 1])
    settings = dict(hidden_layer_sizes=(3,), random_state=0, batch_size=None)
    with pytest.raises(ValueError, match="'balanced' is not supported for partial_fit"):
        GDClassifier(class_weight="balanced", **settings).partial_fit(X, y, classes=[0, 1])
    by_dict = GDClassifier(class_weight={1: 2.0}, **settings).partial_fit(X, y, classes=[0, 1])
    by_row = GDClassifier(**settings).partial_fit(X, y, classes=[0, 1],
                                                  sample_weight=np.where(y == 1, 2.0, 1.0))
    np.testing.assert_allclose(by_dict.loss_curve_, by_row.loss_curve_, rtol=1e-13)


# ---------------------------------------------------------------------- Dask
@pytest.fixture(scope="module")
def client():
    with local_client(processes=False) as started:
        yield started


@pytest.mark.parametrize("settings", [{}, {"batch_size": 5}, {"batch_size": 5, "l1": 0.01,
                                                              "clip_norm": 0.5}])
def test_the_dask_path_weighs_rows_as_one_process(client, settings):
    import dask.array as da

    from chainrule import distributed

    X, Y = problem(n=23)
    weights = np.random.default_rng(3).uniform(0, 2, size=23)
    weights[:5] = 0.0  # a whole mini-batch of the data's order weighs nothing
    options = dict(epochs=3, learning_rate=0.1, optimizer="adam", progress=False,
                   shuffle=False, **settings)
    local, remote = network(), network()
    expected = local.fit(X, Y, sample_weight=weights, **options)
    history = distributed.fit(remote, da.from_array(X, chunks=(8, 3)),
                              da.from_array(Y, chunks=(8, 2)), client=client,
                              sample_weight=da.from_array(weights, chunks=8), **options)
    np.testing.assert_allclose(remote.flat_parameters(), local.flat_parameters(), rtol=1e-11,
                               atol=1e-14)
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-11)


def test_dask_block_visits_weigh_their_mini_batches(client):
    """By block, each visit's mini-batches are local training's, with their rows' weights:
    one epoch equals training in one process on the rows in the visits' order."""
    import dask.array as da

    from chainrule import distributed

    X, Y = problem(n=16)
    weights = np.repeat([1.0, 2.0], 8)
    weights[3] = 0.0
    options = dict(batch_size=4, learning_rate=0.1, progress=False, l1=0.01, clip_value=0.1,
                   optimizer="adam")
    remote = network()
    history = distributed.fit(
        remote, da.from_array(X, chunks=(8, 3)), da.from_array(Y, chunks=(8, 2)),
        client=client, epochs=1, batching="blocks", sample_weight=da.from_array(weights,
                                                                                 chunks=8),
        **options)
    reference = network()  # the visits' order: drawn as distributed draws it
    rows = []
    for block in reference.rng.permutation(2):
        generator = np.random.default_rng(int(reference.rng.integers(2**63)))
        rows.append(block * 8 + generator.permutation(8))
    rows = np.concatenate(rows)
    local = network()
    expected = local.fit(X[rows], Y[rows], epochs=1, shuffle=False,
                         sample_weight=weights[rows], **options)
    assert history.updates == expected.updates == 4
    np.testing.assert_allclose(remote.flat_parameters(), local.flat_parameters(), rtol=1e-12,
                               atol=1e-15)
    assert history["loss"] == pytest.approx(expected["loss"], rel=1e-12)
    unweighted = network()
    unweighted.fit(X[rows], Y[rows], epochs=1, shuffle=False, **options)
    assert not np.allclose(unweighted.flat_parameters(), local.flat_parameters())


def test_dask_refuses_bad_weights_by_block(client):
    import dask.array as da

    from chainrule import distributed

    X, Y = problem(n=10)
    weights = np.ones(10)
    weights[7] = -1.0
    with pytest.raises(ValueError, match="block 1: sample_weight at row 2"):
        distributed.fit(network(), da.from_array(X, chunks=(5, 3)),
                        da.from_array(Y, chunks=(5, 2)), client=client, epochs=1,
                        sample_weight=da.from_array(weights, chunks=5))
    with pytest.raises(ValueError, match="every weight is zero"):
        distributed.fit(network(), da.from_array(X, chunks=(5, 3)),
                        da.from_array(Y, chunks=(5, 2)), client=client, epochs=1,
                        sample_weight=da.zeros(10, chunks=5))


def test_each_worker_thread_computes_on_a_network_of_its_own():
    """Workers in one process (or a worker running tasks in threads) must not share the buffers
    a block's forward and backward pass write: the races made the Dask path's sums wrong."""
    import json
    import threading

    from chainrule.cluster_blocks import worker_network

    spec = json.dumps(network().spec(), sort_keys=True)
    here = worker_network(spec)
    assert worker_network(spec) is here
    found = []
    thread = threading.Thread(target=lambda: found.append(worker_network(spec)))
    thread.start()
    thread.join()
    assert found[0] is not here and found[0].spec() == here.spec()


# ---------------------------------------------------------------------- the command line
def weighted_csv(path, weights, n=40):
    rng = np.random.default_rng(0)
    a = rng.normal(size=n)
    label = (a + rng.normal(scale=0.5, size=n) > 0).astype(int)
    lines = ["a,order,w,label"] + [f"{a[i]},{i},{weights[i]},{label[i]}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_sample_weight_column_follows_the_training_and_validation_rows(tmp_path):
    import argparse

    from chainrule.cli.sample_weights import row_weights
    from chainrule.preparation import prepare

    path = weighted_csv(tmp_path / "w.csv", np.arange(1, 41))
    data = prepare(str(path), None, 0.25, 0.1, 3, drop=["w"], numeric=["order"])
    args = argparse.Namespace(data=str(path), sample_weight="w", class_weight=None,
                              test_split=0.25, validation_split=0.1, split_seed=3)
    weights, validation = row_weights(args, data)
    assert len(weights) == len(data.X_train) == 27
    assert len(validation) == len(data.validation[0]) == 3
    # the weight is the row number + 1, and "order" (standardised) the row number
    assert np.array_equal(np.argsort(weights), np.argsort(data.X_train[:, 1]))
    assert np.array_equal(np.argsort(validation), np.argsort(data.validation[0][:, 1]))
    every = np.concatenate([weights, validation])
    assert len(set(every.tolist())) == 30  # no row weighed twice
    args.class_weight = "balanced"
    both, both_validation = row_weights(args, data)
    labels = np.argmax(data.Y_train, axis=1)
    counts = np.bincount(labels)
    np.testing.assert_allclose(both, weights * 27 / (2 * counts[labels]))
    # the validation rows' classes weigh what the training rows' counts make them
    validation_labels = np.argmax(data.validation[1], axis=1)
    np.testing.assert_allclose(both_validation,
                               validation * 27 / (2 * counts[validation_labels]))
    args.sample_weight = None
    classes_only, classes_validation = row_weights(args, data)
    np.testing.assert_allclose(classes_validation, 27 / (2 * counts[validation_labels]))


def test_the_command_line_weighs_the_validation_loss(tmp_path, monkeypatch):
    """Early stopping watches the weighted mean the training minimises: ``fit`` gets the
    validation rows' weights with them."""
    from chainrule import Network
    from chainrule.cli import main

    received = []
    real_fit = Network.fit

    def fit(self, X, Y, **options):
        received.append(options.get("validation_data"))
        return real_fit(self, X, Y, **options)

    monkeypatch.setattr(Network, "fit", fit)
    path = weighted_csv(tmp_path / "w.csv", np.tile([1, 2, 0, 3], 10))
    common = ["train", str(path), "--hidden", "4", "--epochs", "2", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "plain.npz")]) == 0
    assert main([*common, "--out", str(tmp_path / "weighted.npz"), "--sample-weight", "w"]) == 0
    plain, weighted = received
    assert len(plain) == 2 and len(weighted) == 3
    assert set(weighted[2].tolist()) <= {0.0, 1.0, 2.0, 3.0}


def test_the_command_line_trains_with_weights(tmp_path, capsys):
    from chainrule.cli import main

    path = weighted_csv(tmp_path / "w.csv", np.tile([1, 2, 0, 3], 10))
    common = ["train", str(path), "--hidden", "4", "--epochs", "5", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "plain.npz")]) == 0
    assert main([*common, "--out", str(tmp_path / "weighted.npz"), "--sample-weight", "w",
                 "--class-weight", "balanced", "--l1", "0.001", "--clip-norm", "1",
                 "--clip-value", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "w       dropped" in out
    from chainrule import load

    plain, weighted = load(tmp_path / "plain.npz"), load(tmp_path / "weighted.npz")
    assert weighted.n_inputs == plain.n_inputs - 1  # w: a feature of plain's, not here
    assert not np.array_equal(plain.flat_parameters(), weighted.flat_parameters())
    training = weighted.metadata["training"]
    assert training["sample_weight"] is True and training["l1"] == 0.001
    assert training["clip_norm"] == 1.0 and training["clip_value"] == 0.5


@pytest.mark.parametrize("args, message", [
    (["--sample-weight", "nope"], "no column 'nope'"),
    (["--sample-weight", "label"], "'label' is the target column"),  # the default target
    (["--sample-weight", "a", "--target", "a"], "'a' is the target column"),
    (["--sample-weight", "w"], "row 7 of "),  # data row 5: the file's line 7, unshuffled
    (["--sample-weight", "w", "--test-split", "0.3"], "row 7 of "),
])
def test_the_command_line_refuses_bad_weights_in_one_line(tmp_path, capsys, args, message):
    from chainrule.cli import main

    weights = np.ones(40)
    weights[5] = -2
    path = weighted_csv(tmp_path / "w.csv", weights)
    code = main(["train", str(path), "--epochs", "1", "--no-progress", "--out",
                 str(tmp_path / "m.npz"), *args])
    err = capsys.readouterr().err
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1
    assert "--sample-weight" in err and "--drop" not in err
    assert not (tmp_path / "m.npz").exists()


def test_the_weight_column_is_checked_in_a_glob_first_file(tmp_path):
    import argparse

    from chainrule.cli.arguments import UsageError
    from chainrule.cli.sample_weights import check_weight_options

    for index in range(2):
        weighted_csv(tmp_path / f"part-{index}.csv", np.ones(40))
    source = str(tmp_path / "part-*.csv")

    def args(column, target=None):
        return argparse.Namespace(sample_weight=column, data=source, target=target, drop=[])

    with pytest.raises(UsageError, match="--sample-weight: .* has no column 'nope'"):
        check_weight_options(args("nope"))
    with pytest.raises(UsageError, match="'label' is the target"):
        check_weight_options(args("label"))
    checked = args("w")
    check_weight_options(checked)
    assert checked.drop == ["w"]
    check_weight_options(args("w", target="x"))  # not this check's to refuse: the reading's
    nothing = argparse.Namespace(sample_weight="w", data=str(tmp_path / "none-*.csv"),
                                 target=None, drop=[])
    check_weight_options(nothing)  # no file: reading the data says so
    assert nothing.drop == ["w"]


def test_sample_weight_needs_a_table_and_class_weight_classes(tmp_path, capsys):
    from chainrule.cli import main

    assert main(["train", "--dataset", "digits", "--sample-weight", "w", "--epochs", "1"]) == 2
    assert "--sample-weight" in capsys.readouterr().err
    code = main(["train", "--dataset", "regression", "--class-weight", "balanced",
                 "--epochs", "1", "--no-progress", "--out-dir", str(tmp_path)])
    assert code == 2 and "classification" in capsys.readouterr().err


def test_the_command_line_reads_the_weight_column_on_a_dask_cluster(tmp_path, capsys,
                                                                    monkeypatch):
    """The weights read on the workers travel with their rows: each training row's weight, as
    ``distributed.fit`` gets it, is the file's for that row (here a function of its label).
    (Out of core the file's preparation is the cluster's own, which does not equal one
    process's to the bit, so the runs are compared through what ``fit`` receives.)"""
    pytest.importorskip("distributed")
    from chainrule import distributed, load
    from chainrule.cli import main

    path = weighted_csv(tmp_path / "w.csv", np.ones(40))
    lines = path.read_text().splitlines()
    by_label = [lines[0]] + [",".join([*cells[:2], "3" if cells[3] == "1" else "1", cells[3]])
                             for cells in (line.split(",") for line in lines[1:])]
    path.write_text("\n".join(by_label) + "\n")
    received = []
    real_fit = distributed.fit

    def fit(net, X, Y, **options):
        received.append((Y.compute(), options.get("sample_weight"),
                         options.get("validation_data")))
        return real_fit(net, X, Y, **options)

    monkeypatch.setattr(distributed, "fit", fit)
    common = ["train", str(path), "--hidden", "4", "--epochs", "3", "--no-progress",
              "--dask-workers", "2", "--batch-size", "8"]
    assert main([*common, "--out", str(tmp_path / "plain.npz"), "--drop", "w"]) == 0
    assert main([*common, "--out", str(tmp_path / "weighted.npz"), "--sample-weight", "w"]) == 0
    assert "w       dropped" in capsys.readouterr().out
    (_, none, unweighted), (Y, weights, validation) = received
    assert none is None and weights is not None
    np.testing.assert_array_equal(weights.compute(), np.where(Y[:, 1] == 1, 3.0, 1.0))
    # the validation rows, brought here, with their weights in their order
    assert len(unweighted) == 2 and len(validation) == 3
    np.testing.assert_array_equal(validation[2], np.where(validation[1][:, 1] == 1, 3.0, 1.0))
    plain, weighted = load(tmp_path / "plain.npz"), load(tmp_path / "weighted.npz")
    assert weighted.n_inputs == plain.n_inputs  # w weighs the rows, it is no feature
    assert weighted.metadata["training"]["sample_weight"] is True
    # the same rows, features and seed: only the weights differ
    assert not np.array_equal(plain.flat_parameters(), weighted.flat_parameters())
