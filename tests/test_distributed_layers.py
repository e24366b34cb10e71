"""The Dask path with dropout, batch and layer normalisation, and sample weights from a table's
column: it trains, replays bit for bit from a seed, and equals one process where it should."""

import csv

import numpy as np
import pytest
from dask_cluster import local_client

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from chainrule import Network  # noqa: E402
from chainrule import distributed as chainrule_distributed  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with local_client(processes=False) as started:
        yield started


def data(rows=128, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 4))
    Y = np.eye(3)[(X[:, 0] > 0).astype(int) + (X[:, 1] > 1)]
    return X, Y


def network(seed=2, **layers):
    return Network([4, 6, 5, 3], activation="tanh", output_activation="softmax",
                   loss="categorical_cross_entropy", seed=seed, **layers)


def blocks(X, Y, rows=32):
    return da.from_array(X, chunks=(rows, X.shape[1])), da.from_array(Y, chunks=(rows, 3))


def visits(reference, n_blocks, rows):
    """The visits' order: blocks drawn from the network's generator, each block's rows and
    its dropout masks from the generator of the seed drawn next."""
    for block in reference.rng.permutation(n_blocks):
        generator = np.random.default_rng(int(reference.rng.integers(2**63)))
        yield block, generator.permutation(rows), generator


def test_batch_normalisation_by_block_is_local_training_in_the_visits_order(client):
    X, Y = data()
    options = dict(learning_rate=0.05, batch_size=16, optimizer="adam", progress=False)
    net = network(normalization="batch")
    history = chainrule_distributed.fit(net, *blocks(X, Y), client=client, epochs=1,
                                        batching="blocks", **options)
    rows = [block * 32 + order for block, order, _ in visits(network(), 4, 32)]
    local = network(normalization="batch")
    expected = local.fit(X[np.concatenate(rows)], Y[np.concatenate(rows)], epochs=1,
                         shuffle=False, **options)
    assert history.updates == expected.updates == 8
    np.testing.assert_allclose(net.flat_parameters(), local.flat_parameters(), rtol=1e-12)
    for remote, here in zip(net.running_statistics(), local.running_statistics(),
                            strict=True):
        np.testing.assert_allclose(remote, here, rtol=1e-12)
    assert not np.array_equal(net.running_statistics()[0], np.zeros(6))  # they moved
    assert history["loss"] == pytest.approx(expected["loss"], rel=1e-12)


def test_dropout_by_block_draws_its_masks_after_the_rows_order(client):
    X, Y = data()
    options = dict(learning_rate=0.05, batch_size=16, optimizer="gd", progress=False)
    net = network(dropout=0.3)
    chainrule_distributed.fit(net, *blocks(X, Y), client=client, epochs=1, batching="blocks",
                              **options)
    local = network(dropout=0.3)
    for block, order, generator in visits(network(), 4, 32):
        local.rng = generator  # a visit's masks: from the generator that drew its rows' order
        rows = block * 32 + order
        local.fit(X[rows], Y[rows], epochs=1, shuffle=False, **options)
    np.testing.assert_allclose(net.flat_parameters(), local.flat_parameters(), rtol=1e-12)


@pytest.mark.parametrize("batching, batch_size", [("blocks", 16), ("global", 16),
                                                   ("global", None)])
def test_dropout_on_dask_replays_bit_for_bit_from_the_seed(client, batching, batch_size):
    X, Y = data()
    runs = []
    for dropout in (0.3, 0.3, 0.0):
        net = network(dropout=dropout, normalization="layer")
        history = chainrule_distributed.fit(
            net, *blocks(X, Y), client=client, epochs=2, learning_rate=0.05,
            batch_size=batch_size, batching=batching, progress=False)
        runs.append((net.flat_parameters().copy(), history["loss"]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    assert not np.allclose(runs[0][0], runs[2][0])  # the masks dropped something


@pytest.mark.parametrize("batch_size", [None, 16])
def test_layer_normalisation_on_dask_equals_one_process(client, batch_size):
    X, Y = data()
    options = dict(epochs=3, learning_rate=0.1, optimizer="adam", batch_size=batch_size,
                   progress=False)
    local, remote = network(normalization="layer"), network(normalization="layer")
    expected = local.fit(X, Y, **options)
    history = chainrule_distributed.fit(remote, *blocks(X, Y, rows=40), client=client,
                                        batching="global", **options)
    np.testing.assert_allclose(remote.flat_parameters(), local.flat_parameters(), rtol=1e-11,
                               atol=1e-14)
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-11)


@pytest.mark.parametrize("batching, batch_size, words", [
    ("global", 16, "does not train batch normalisation yet with batching='global'"),
    ("blocks", None, "needs mini-batches"),
    ("blocks", 31, "block 0 has 32 rows, and batch_size=31 leaves it a mini-batch of 1 row"),
    ("blocks", 1, "batch_size=1"),
])
def test_batch_normalisation_refusals_come_before_training(client, batching, batch_size,
                                                           words):
    X, Y = data()
    net = network(normalization="batch")
    before = net.flat_parameters().copy()
    with pytest.raises(ValueError, match="batch normalisation") as caught:
        chainrule_distributed.fit(net, *blocks(X, Y), client=client, epochs=1,
                                  batch_size=batch_size, batching=batching, progress=False)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    np.testing.assert_array_equal(net.flat_parameters(), before)


def test_batch_normalised_checkpoints_resume_bit_for_bit(client, tmp_path):
    X, Y = data()
    options = dict(epochs=4, learning_rate=0.05, batch_size=16, optimizer="adam",
                   batching="blocks", progress=False)
    layers = dict(normalization="batch", dropout=0.2)
    straight = network(**layers)
    chainrule_distributed.fit(straight, *blocks(X, Y), client=client, **options)
    checkpoint = str(tmp_path / "bn.npz")
    chainrule_distributed.fit(network(**layers), *blocks(X, Y), client=client,
                              checkpoint=checkpoint, **{**options, "epochs": 2})
    resumed = network(**layers)
    chainrule_distributed.fit(resumed, *blocks(X, Y), client=client, resume_from=checkpoint,
                              **options)
    np.testing.assert_array_equal(straight.flat_parameters(), resumed.flat_parameters())
    for a, b in zip(straight.running_statistics(), resumed.running_statistics(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_predictions_on_the_workers_use_the_running_statistics(client):
    """The tolerance rule and record_predictions evaluate on the workers: with the driver's
    running statistics, as the driver would."""
    X, Y = data()
    net = network(normalization="batch")
    history = chainrule_distributed.fit(net, *blocks(X, Y), client=client, epochs=2,
                                        learning_rate=0.05, batch_size=16, batching="blocks",
                                        record_predictions=True, progress=False)
    np.testing.assert_allclose(history.predicted[-1], net.predict(X), rtol=1e-12)


# ---------------------------------------------------------------------------- a table's column
def weighted_table(folder, rows=150, files=2, bad=None):
    rng = np.random.default_rng(5)
    folder.mkdir()
    for f in range(files):
        with open(folder / f"part{f}.csv", "w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["a", "b", "w", "label"])
            for r in range(rows):
                a, b = rng.normal(size=2)
                weight = bad if (bad is not None and f == 1 and r == 9) else \
                    round(float(rng.uniform(0, 3)), 3)
                out.writerow([a, b, weight, "yes" if a + 0.5 * b > 0 else "no"])
    return str(folder / "*.csv")


def file_column(source, name):
    import glob

    return np.array([float(row[name]) for path in sorted(glob.glob(source))
                     for row in csv.DictReader(open(path))])


def test_a_weight_column_travels_with_the_training_blocks(client, tmp_path):
    from chainrule.distributed_run import cluster_weights, held_out_metrics
    from chainrule.metrics import Metrics

    source = weighted_table(tmp_path / "t")
    data = chainrule_distributed.prepare_on_cluster(source, client=client, target="label",
                                                    drop=["w"], seed=3)
    assert "w" not in data.preparation.used_columns
    weights = cluster_weights(data, "w")
    assert weights.chunks[0] == data.X_train.chunks[0]
    parts = data.held_out.row_parts()
    np.testing.assert_array_equal(weights.compute(), file_column(source, "w")[parts == 0])
    # Trained with them: as one process trains on the same rows with the same weights.
    X, Y, W = (a.compute() for a in (data.X_train, data.Y_train, weights))
    local = Network([X.shape[1], 5, Y.shape[1]], activation="tanh", output_activation="softmax",
                    loss="categorical_cross_entropy", seed=1, normalization="layer")
    remote = local.copy()
    options = dict(epochs=3, learning_rate=0.1, optimizer="adam", progress=False)
    expected = local.fit(X, Y, sample_weight=W, **options)
    history = chainrule_distributed.fit(remote, data.X_train, data.Y_train, client=client,
                                        sample_weight=weights, batching="global", **options)
    np.testing.assert_allclose(remote.flat_parameters(), local.flat_parameters(), rtol=1e-11,
                               atol=1e-14)
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-11)
    # The held-out metrics, summed on the workers, evaluate with the running statistics.
    net = Network([X.shape[1], 5, Y.shape[1]], activation="tanh", output_activation="softmax",
                  loss="categorical_cross_entropy", seed=1, normalization="batch")
    rng = np.random.default_rng(0)
    net.set_running_statistics([rng.normal(size=5), rng.uniform(0.5, 2.0, size=5)])
    X_held, Y_held = (a.compute() for a in data.held_out.held_out)
    here = Metrics(net)
    here.add(X_held, Y_held)
    assert held_out_metrics(net, data, client)["loss"] == pytest.approx(
        here.result()["loss"], rel=1e-12)
    plain = Network([X.shape[1], 5, Y.shape[1]], activation="tanh",
                    output_activation="softmax", loss="categorical_cross_entropy", seed=1,
                    normalization="batch")
    assert held_out_metrics(plain, data, client)["loss"] != pytest.approx(
        here.result()["loss"], rel=1e-6)


@pytest.mark.parametrize("bad, words", [(-2, "row 11 of"), ("", "missing")])
def test_a_bad_weight_is_refused_naming_its_file_and_row(client, tmp_path, bad, words):
    from chainrule.distributed_run import cluster_weights

    source = weighted_table(tmp_path / "t", bad=bad)
    data = chainrule_distributed.prepare_on_cluster(source, client=client, target="label",
                                                    drop=["w"], seed=3, test_split=0.01)
    with pytest.raises(ValueError, match="column 'w' \\(the sample weights\\)") as caught:
        cluster_weights(data, "w")
    assert words in str(caught.value) and "part1.csv" in str(caught.value)
    with pytest.raises(ValueError, match="'a' is a feature"):
        cluster_weights(data, "a")


def test_the_command_line_names_flags_not_keywords(capsys):
    """The library's refusals say ``batch_size=1`` and ``normalization='layer'``; the command
    line shows the flags to type instead (one process, and the Dask path's own words)."""
    from chainrule.cli import main
    from chainrule.cli.flag_spelling import in_flags

    assert in_flags("batch_size=31 leaves it; choose another batch_size, or "
                    "normalization='layer', or batching='blocks' with a batch_size") == (
        "--batch-size 31 leaves it; choose another --batch-size, or --normalization layer, "
        "or --dask-batching blocks with a --batch-size")
    assert in_flags("the data has 7 samples") == "the data has 7 samples"
    common = ["train", "--dataset", "xor", "--normalization", "batch", "--epochs", "1",
              "--no-progress"]
    assert main([*common, "--batch-size", "1"]) == 2
    err = capsys.readouterr().err
    assert "--batch-size 1 gives batches of 1 row" in err and "--normalization layer" in err
    assert "batch_size" not in err and "normalization=" not in err
    assert main([*common, "--batch-size", "2", "--dask-workers", "1",
                 "--dask-batching", "global"]) == 2
    err = capsys.readouterr().err
    assert "with --dask-batching global" in err and "batching=" not in err


@pytest.mark.parametrize("name", ["nadam", "amsgrad", "adadelta"])
def test_a_cached_visit_optimizer_carries_nothing_from_the_last_visit(name):
    """Each thread builds a block's optimizer once; a visit must still depend only on the
    driver's state it is given (a later visit from an earlier state, too)."""
    import json

    from chainrule import cluster_blocks
    from chainrule.optimizers import get_optimizer

    X, Y = data(rows=24)
    net = network(dropout=0.2)
    spec = json.dumps(net.spec(), sort_keys=True)
    driver = get_optimizer(name)
    driver.bind([net.flat_parameters()])
    step = {"learning_rate": 0.05, "l2": 0.01, "loss_limit": 1e300, "l1": 0.0,
            "clip_norm": None, "clip_value": None}

    def visit(state, steps, seed):
        optimizer = {"name": name, "hyperparameters": driver.hyperparameters(),
                     "state": state, "steps": steps}
        return cluster_blocks.visit_block(spec, (net.flat_parameters().copy(), []), optimizer,
                                          step, 8, seed, X, Y)

    start = {k: [b.copy() for b in v] for k, v in driver.state.items()}
    later = visit(start, 0, 1)  # leaves the cached optimizer 3 steps on
    again = visit(start, 0, 2)  # from the start again
    cluster_blocks._THREAD.optimizers.clear()
    fresh = visit(start, 0, 2)
    assert later[3] == again[3] == fresh[3] == 3
    np.testing.assert_array_equal(again[0], fresh[0])
    for name_ in again[2]:
        for a, b in zip(again[2][name_], fresh[2][name_], strict=True):
            np.testing.assert_array_equal(a, b)
    assert again[4] == fresh[4]
    resumed = visit(later[2], 3, 3)  # from a later state, on an optimizer cached afresh
    cluster_blocks._THREAD.optimizers.clear()
    np.testing.assert_array_equal(resumed[0], visit(later[2], 3, 3)[0])
