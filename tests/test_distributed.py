import json
import os
import signal

import numpy as np
import pytest
from dask_cluster import local_client

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import chainrule  # noqa: E402
from chainrule import Network  # noqa: E402
from chainrule import distributed as chainrule_distributed  # noqa: E402
from chainrule.callbacks import Callback  # noqa: E402
from chainrule.exceptions import DivergenceError, DivergenceWarning  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with local_client(processes=True) as started:
        yield started


def data(rows=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 4))
    Y = np.eye(3)[(X[:, 0] > 0).astype(int) + (X[:, 1] > 1)]
    return X, Y


def network():
    return Network([4, 6, 3], activation="tanh", output_activation="softmax",
                   loss="categorical_cross_entropy", seed=2)


def assert_close(a, b, rtol=1e-12):
    for p, q in zip(a.parameters(), b.parameters()):
        scale = max(np.max(np.abs(p)), 1e-300)
        assert np.max(np.abs(p - q)) / scale <= rtol


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "nesterov", "adagrad", "rmsprop",
                                       "adam"])
def test_full_batch_equals_single_process(client, optimizer):
    X, Y = data()
    local, remote = network(), network()
    expected = local.fit(X, Y, epochs=4, learning_rate=0.1, optimizer=optimizer, l2=1e-3)
    history = chainrule_distributed.fit(
        remote, da.from_array(X, chunks=(70, 4)), da.from_array(Y, chunks=(70, 3)),
        client=client, epochs=4, learning_rate=0.1, optimizer=optimizer, l2=1e-3)
    assert_close(local, remote)
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-12)
    assert history.updates == expected.updates == 4


def test_mini_batches_follow_the_single_process_order(client):
    X, Y = data(200)
    local, remote = network(), network()
    local.fit(X, Y, epochs=2, learning_rate=0.05, batch_size=50, optimizer="adam")
    history = chainrule_distributed.fit(
        remote, da.from_array(X, chunks=(60, 4)), da.from_array(Y, chunks=(60, 3)),
        client=client, epochs=2, learning_rate=0.05, batch_size=50, optimizer="adam")
    assert history.updates == 8
    assert_close(local, remote, rtol=1e-11)


def test_a_worker_killed_mid_fit_changes_nothing(client):
    X, Y = data(240)
    reference = network()
    chainrule_distributed.fit(reference, da.from_array(X, chunks=(60, 4)),
                              da.from_array(Y, chunks=(60, 3)), client=client, epochs=6,
                              learning_rate=0.2)

    class KillAWorker(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch == 2:
                victim = sorted(client.scheduler_info()["workers"])[0]
                pid = client.run(os.getpid, workers=[victim])[victim]
                os.kill(pid, signal.SIGKILL)

    survivor = network()
    history = chainrule_distributed.fit(
        survivor, da.from_array(X, chunks=(60, 4)), da.from_array(Y, chunks=(60, 3)),
        client=client, epochs=6, learning_rate=0.2, callbacks=[KillAWorker()])
    assert history.epochs == 6
    for p, q in zip(reference.parameters(), survivor.parameters()):
        np.testing.assert_array_equal(p, q)
    client.wait_for_workers(2, timeout=60)


def test_unaligned_chunks_are_refused(client):
    X, Y = data(100)
    with pytest.raises(ValueError, match="row chunks of X .* are not aligned"):
        chainrule_distributed.fit(network(), da.from_array(X, chunks=(50, 4)),
                                  da.from_array(Y, chunks=(40, 3)), client=client, epochs=1)


def test_nan_in_a_block_names_the_block(client):
    X, Y = data(100)
    X[77, 2] = np.nan
    with pytest.raises(ValueError, match=r"block 3: X holds a non-finite value at row 2 of "
                                         r"the block, column 2"):
        chainrule_distributed.fit(network(), da.from_array(X, chunks=(25, 4)),
                                  da.from_array(Y, chunks=(25, 3)), client=client, epochs=1)


def test_divergence_keeps_finite_weights(client):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    Y = X @ np.array([[1.0], [-2.0], [0.5]])
    net = Network([3, 4, 1], activation="tanh", output_activation="identity", loss="mse", seed=0)
    with pytest.warns(DivergenceWarning, match="learning_rate=1000") as caught:
        history = chainrule_distributed.fit(net, da.from_array(X, chunks=(40, 3)),
                                            da.from_array(Y, chunks=(40, 1)), client=client,
                                            epochs=50, learning_rate=1e3)
    assert caught[0].filename == __file__
    assert history.diverged
    assert all(np.isfinite(p).all() for p in net.parameters())
    local = Network([3, 4, 1], activation="tanh", output_activation="identity", loss="mse",
                    seed=0)
    with pytest.warns(DivergenceWarning):
        expected = local.fit(X, Y, epochs=50, learning_rate=1e3)
    assert history.stopped_reason == expected.stopped_reason
    assert_close(local, net)
    with pytest.raises(DivergenceError, match="learning_rate"):
        chainrule_distributed.fit(network_like(local), da.from_array(X, chunks=(40, 3)),
                                  da.from_array(Y, chunks=(40, 1)), client=client, epochs=50,
                                  learning_rate=1e3, on_divergence="raise")


def test_plain_arrays_are_refused(client):
    X, Y = data(10)
    with pytest.raises(ValueError, match="dask arrays"):
        chainrule_distributed.fit(network(), X, Y, client=client, epochs=1)


def test_command_line_trains_on_local_workers_like_one_process(tmp_path, capsys):
    import chainrule
    from chainrule.cli import main

    common = ["train", "--dataset", "iris", "--epochs", "15", "--lr", "0.01",
              "--batch-size", "1000", "--no-progress"]
    assert main(common + ["--out", str(tmp_path / "local.npz")]) == 0
    assert main(common + ["--dask-workers", "2", "--out", str(tmp_path / "dask.npz")]) == 0
    local, remote = chainrule.load(str(tmp_path / "local.npz")), \
        chainrule.load(str(tmp_path / "dask.npz"))
    assert_close(local, remote)
    # Validation, early stopping and checkpoints go through the same loop on Dask.
    more = ["--validation-split", "0.2", "--early-stopping", "3", "--checkpoint-every", "5",
            "--checkpoint", str(tmp_path / "checkpoint.npz")]
    assert main(common + more + ["--out", str(tmp_path / "local2.npz")]) == 0
    assert main(common + more + ["--dask-workers", "2", "--out", str(tmp_path / "dask2.npz")]) \
        == 0
    assert_close(chainrule.load(str(tmp_path / "local2.npz")),
                 chainrule.load(str(tmp_path / "dask2.npz")))
    assert (tmp_path / "checkpoint.npz").exists()


def network_like(net):
    return Network(net.sizes, activation=net.activations, loss=net.loss_name, seed=0)


def dask_data(X, Y, rows=60):
    return da.from_array(X, chunks=(rows, X.shape[1])), da.from_array(Y, chunks=(rows, Y.shape[1]))


def test_every_fit_keyword_works_on_dask_as_in_one_process(client):
    """Validation, early stopping, the target rule and callbacks are the training loop's, so a
    Dask run records and stops exactly as a local one."""
    X, Y = data(240)
    seen = {}

    class Record(Callback):
        def __init__(self, name):
            self.name = name

        def on_epoch_end(self, trainer, epoch, logs):
            seen.setdefault(self.name, []).append((trainer.epoch, logs["loss"]))

    options = dict(epochs=40, learning_rate=0.5, batch_size=48, optimizer="momentum",
                   validation_data=(X[:40], Y[:40, ::-1]), early_stopping=3, schedule="cosine")
    local, remote = network(), network()
    expected = local.fit(X, Y, callbacks=[Record("local")], **options)
    history = chainrule_distributed.fit(remote, *dask_data(X, Y), client=client,
                                        callbacks=[Record("dask")], **options)
    assert history.stopped_reason == expected.stopped_reason
    assert "early stopping" in history.stopped_reason
    assert history.best_epoch == expected.best_epoch
    np.testing.assert_allclose(history["val_loss"], expected["val_loss"], rtol=1e-10)
    assert history["val_accuracy"] == expected["val_accuracy"]
    assert [e for e, _ in seen["dask"]] == [e for e, _ in seen["local"]]
    assert_close(local, remote, rtol=1e-10)

    target = expected["loss"][3]
    reached = chainrule_distributed.fit(network(), *dask_data(X, Y), client=client, epochs=40,
                                        learning_rate=0.5, batch_size=48, target_loss=target)
    local_reached = network().fit(X, Y, epochs=40, learning_rate=0.5, batch_size=48,
                                  target_loss=target)
    assert "target reached" in reached.stopped_reason
    assert reached.epochs == local_reached.epochs < 40


def test_tolerance_rule_on_dask(client):
    """The tutorial's rule needs every prediction: the blocks report their largest gap."""
    X = np.linspace(-1, 1, 8).reshape(-1, 1)
    Y = 0.3 + 0.2 * X
    local = Network([1, 1], activation="identity", seed=0)
    expected = local.fit(X, Y, epochs=500, learning_rate=0.3, tolerance=1e-3)
    remote = Network([1, 1], activation="identity", seed=0)
    history = chainrule_distributed.fit(remote, *dask_data(X, Y, rows=3), client=client,
                                        epochs=500, learning_rate=0.3, tolerance=1e-3)
    assert "within 0.001" in history.stopped_reason
    assert history.epochs == expected.epochs < 500


@pytest.mark.parametrize("batch_size", [None, 50])
def test_checkpoint_and_bit_exact_resume_on_dask(client, tmp_path, batch_size):
    X, Y = data(200)
    options = dict(epochs=6, learning_rate=0.1, optimizer="adam", batch_size=batch_size)
    straight = network()
    full = chainrule_distributed.fit(straight, *dask_data(X, Y), client=client, **options)
    checkpoint = str(tmp_path / "dask.npz")
    first = network()
    chainrule_distributed.fit(first, *dask_data(X, Y), client=client, checkpoint=checkpoint,
                              checkpoint_every=3, **{**options, "epochs": 3})
    resumed = network()
    history = chainrule_distributed.fit(resumed, *dask_data(X, Y), client=client,
                                        resume_from=checkpoint, **options)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(p, q)
    assert history["loss"] == full["loss"] and history.updates == full.updates


# ---------------------------------------------------------------------------- out of core
def table_files(folder, kind, rows=240, files=2, bad=None):
    """Numeric tables in ``files`` files: CSV (a glob) or Parquet (a folder)."""
    import pandas

    rng = np.random.default_rng(0)
    folder.mkdir(exist_ok=True)
    for index in range(files):
        X = rng.normal(size=(rows, 3))
        frame = pandas.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2],
                                  "label": (X[:, 0] + X[:, 1] > 0).astype(int)})
        if bad is not None and index == files - 1:
            frame = frame.astype({"b": object})
            frame.loc[rows // 2, "b"] = bad
        if kind == "csv":
            frame.to_csv(folder / f"part-{index}.csv", index=False)
        else:
            frame.to_parquet(folder / f"part-{index}.parquet", index=False)
    return str(folder / "*.csv") if kind == "csv" else str(folder)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_the_command_line_trains_out_of_core_on_the_cluster(client, tmp_path, capsys, kind):
    from chainrule.cli import main

    source = table_files(tmp_path / "data", kind)
    runs = []
    for name in ("first", "second"):
        out = tmp_path / f"{name}.npz"
        code = main(["train", source, "--dask", client.scheduler.address, "--epochs", "25",
                     "--hidden", "8", "--batch-size", "1000", "--lr", "0.05",
                     "--validation-split", "0.2",
                     "--no-progress", "--out", str(out)])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "held-out" in captured.out and "confusion matrix" in captured.out
        runs.append(chainrule.load(str(out)))
    for p, q in zip(runs[0].parameters(), runs[1].parameters()):
        np.testing.assert_array_equal(p, q)  # the split by rows is fixed by the seed
    metadata = runs[0].metadata
    assert metadata["feature_names"] == ["a", "b", "c"] and metadata["classes"] == [0, 1]
    assert metadata["dataset"] == "data"  # the folder's name, for a glob or a folder
    assert metadata["training"]["n_samples"] < 480  # 25% held out, 20% of the rest validated
    one_file = str(tmp_path / "data" / ("part-0.csv" if kind == "csv" else "part-0.parquet"))
    assert main(["evaluate", str(tmp_path / "first.npz"), one_file]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] > 0.6


def test_a_bad_cell_in_a_later_file_is_one_line(client, tmp_path, capsys):
    from chainrule.cli import main

    source = table_files(tmp_path / "bad", "csv", bad="inf")
    code = main(["train", source, "--dask", client.scheduler.address, "--epochs", "1",
                 "--no-progress", "--out", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "part-1.csv: row 122, column 'b': inf is not finite" in err  # its line in the file
    assert not (tmp_path / "m.npz").exists()


def test_parquet_trains_locally_too(tmp_path, capsys):
    from chainrule.cli import main

    source = table_files(tmp_path / "local", "parquet", files=1)
    assert main(["train", source, "--epochs", "3", "--no-progress", "--out",
                 str(tmp_path / "m.npz")]) == 0
    assert main(["predict", str(tmp_path / "m.npz"), source]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) > 240


def test_mini_batches_by_block_are_sequential_sgd_in_a_block_shuffled_order(client):
    from chainrule.optimizers import Adam
    from chainrule.training import add_l2

    X, Y = data(200)
    net, reference = network(), network()
    history = chainrule_distributed.fit(
        net, da.from_array(X, chunks=(50, 4)), da.from_array(Y, chunks=(50, 3)), client=client,
        epochs=2, learning_rate=0.05, batch_size=16, optimizer="adam", l2=1e-3,
        batching="blocks")
    assert history.params["gradient_source"] == "dask (mini-batches by block)"
    assert history.updates == 2 * 4 * 4  # 2 epochs, 4 blocks, 4 mini-batches of <= 16 rows
    # The same arithmetic written out: blocks in an order drawn from the network's generator,
    # each block's rows in an order drawn from a seed the generator gives, then plain steps.
    optimizer = Adam()
    optimizer.bind([reference.flat_parameters()])
    scratch = [np.empty_like(w) for w in reference.weights]
    losses = []
    for _ in range(2):
        total = 0.0
        for block in reference.rng.permutation(4):
            rows = np.random.default_rng(int(reference.rng.integers(2**63))).permutation(50)
            Xb, Yb = X[block * 50:(block + 1) * 50], Y[block * 50:(block + 1) * 50]
            for start in range(0, 50, 16):
                index = rows[start:start + 16]
                error = reference.compute_gradients(Xb[index], Yb[index])
                error += add_l2(reference, 1e-3, scratch)
                optimizer.step([reference.flat_parameters()], [reference.flat_gradients()],
                               0.05)
                total += error * len(index)
        losses.append(total / 200)
    assert_close(net, reference, rtol=1e-12)
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-12)


def test_a_block_visit_takes_the_local_loops_step(client):
    """Mini-batches by block go through the step the local loop takes (gradient, L2, the
    divergence check, the update): a visit of each block equals the local loop on the same
    rows in the same order."""
    X, Y = data(64)
    net = network()
    history = chainrule_distributed.fit(
        net, da.from_array(X, chunks=(32, 4)), da.from_array(Y, chunks=(32, 3)), client=client,
        epochs=1, learning_rate=0.05, batch_size=16, optimizer="adam", l2=1e-3,
        batching="blocks")
    # The rows in the order the visits take them: the blocks in the order the network's
    # generator draws, each block's rows in the order of the seed it draws next.
    reference = network()
    rows = []
    for block in reference.rng.permutation(2):
        order = np.random.default_rng(int(reference.rng.integers(2**63))).permutation(32)
        rows.extend(block * 32 + order)
    local = network()
    expected = local.fit(X[rows], Y[rows], epochs=1, learning_rate=0.05, batch_size=16,
                         optimizer="adam", l2=1e-3, shuffle=False)
    assert history.updates == expected.updates == 4
    assert_close(net, local, rtol=1e-12)
    assert history["loss"] == pytest.approx(expected["loss"], rel=1e-12)


def test_by_block_checkpoints_resume_bit_for_bit(client, tmp_path):
    X, Y = data(200)
    options = dict(epochs=4, learning_rate=0.05, batch_size=16, optimizer="adam",
                   batching="blocks")
    straight = network()
    chainrule_distributed.fit(straight, *dask_data(X, Y, rows=50), client=client, **options)
    checkpoint = str(tmp_path / "blocks.npz")
    chainrule_distributed.fit(network(), *dask_data(X, Y, rows=50), client=client,
                              checkpoint=checkpoint, **{**options, "epochs": 2})
    resumed = network()
    chainrule_distributed.fit(resumed, *dask_data(X, Y, rows=50), client=client,
                              resume_from=checkpoint, **options)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(p, q)


# ---------------------------------------------------------------------------- real tables
def real_table(path, rows=240, seed=0, start=0):
    """A table as pandas writes one (``to_csv``, its index column first): an id column, numbers
    with missing cells, a yes/no column, categories with missing cells, whole numbers, dates
    and text labels, some missing."""
    import pandas

    rng = np.random.default_rng(seed)
    frame = pandas.DataFrame({
        "customer_id": np.arange(start, start + rows),
        "age": np.where(rng.random(rows) < 0.2, np.nan, rng.normal(40, 12, rows).round(1)),
        "member": rng.choice(["yes", "no"], rows),
        "plan": np.where(rng.random(rows) < 0.15, None, rng.choice(["basic", "plus", "pro"], rows)),
        "visits": rng.integers(0, 30, rows),
        "since": pandas.Timestamp("2021-01-01")
        + pandas.to_timedelta(rng.integers(0, 700, rows), unit="D"),
        "label": np.where(rng.random(rows) < 0.05, None,
                          rng.choice(["churn", "stay", "upgrade"], rows)),
    })
    frame.to_csv(path)
    return path


def local_reference(data, table, **options):
    """The preparation one process fits on the rows the cluster fitted on, and each row's part
    (-1: no target)."""
    from chainrule.features import Preparation

    parts = data.held_out.row_parts()
    local = Preparation(**options).fit(table, rows=np.flatnonzero((parts == 0) | (parts == 1)))
    return local, parts


def assert_same_preparation(prep, local):
    assert prep.columns == local.columns  # roles, kinds, categories, fill values (exactly)
    assert (prep.task, prep.classes, prep.target_kind, prep.rows_without_target) == \
        (local.task, local.classes, local.target_kind, local.rows_without_target)
    for mine, theirs in ((prep.scaling, local.scaling),
                         (prep.target_scaling, local.target_scaling)):
        assert (mine is None) == (theirs is None)
        if mine is not None:
            np.testing.assert_allclose(mine["mean"], theirs["mean"], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(mine["scale"], theirs["scale"], rtol=1e-12)


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rounds", ["as-shipped", "every-round"])
def test_prepare_on_cluster_fits_the_local_preparation(client, tmp_path, monkeypatch, rounds):
    from chainrule import distributed_table
    from chainrule.tables import read_table

    passes, counted = [], []
    if rounds == "every-round":  # many blocks; values counted by ranges; medians bit by bit
        monkeypatch.setattr(distributed_table, "BLOCK_BYTES", 1500)
        monkeypatch.setattr(distributed_table, "KEEP_DISTINCT", 2)
        monkeypatch.setattr(distributed_table, "GATHER", 1)
    real_pass, real_count = distributed_table._pass, distributed_table._count_by_ranges
    monkeypatch.setattr(distributed_table, "_pass", lambda client, blocks, task, *more: (
        passes.append((task.__name__, len(blocks))), real_pass(client, blocks, task, *more))[1])
    monkeypatch.setattr(distributed_table, "_count_by_ranges", lambda *args: (
        counted.append(sorted(args[4])), real_count(*args))[1])
    path = str(real_table(tmp_path / "customers.csv", 300))
    data = chainrule_distributed.prepare_on_cluster(path, client=client, validation_split=0.2,
                                                    seed=4)
    prep, table = data.preparation, read_table(path)
    local, parts = local_reference(data, table)
    assert_same_preparation(prep, local)
    assert {c["name"]: c["role"] for c in prep.columns} == {
        "Unnamed: 0": "dropped", "customer_id": "dropped", "age": "numeric",
        "member": "boolean", "plan": "categorical", "visits": "numeric", "since": "date",
        "label": "target"}
    assert prep.classes == ["churn", "stay", "upgrade"] and prep.rows_without_target > 0
    assert prep.feature_names == ["age", "age (missing)", "member", "plan=basic", "plan=plus",
                                  "plan=pro", "plan=(missing)", "visits", "since"]
    age = table.column("age").to_numpy(zero_copy_only=False)[(parts == 0) | (parts == 1)]
    assert prep.columns[2]["fill"] == np.median(age[~np.isnan(age)])  # exact
    # The same features and targets, row for row, in every part.
    X, labels = local.transform(table), local.table_targets(table)
    close(data.X_train.compute(), X[parts == 0])
    np.testing.assert_array_equal(data.Y_train.compute(), np.eye(3)[labels[parts == 0]])
    close(data.validation[0], X[parts == 1])
    close(data.held_out.held_out[0].compute(), X[parts == 2])
    assert data.n_held == (parts == 2).sum() > 0 and data.X_train.chunks[0] == \
        data.Y_train.chunks[0]
    assert data.metadata == {**prep.metadata(), "dataset": "customers"}
    assert data.loss == "categorical_cross_entropy" and data.task == "classification"
    selections = [name for name, _ in passes].count("_selection")
    if rounds == "every-round":  # a round of 16 bits, and the bin holds one value
        assert passes[0][1] > 5 and selections == 1
        assert counted == [["Unnamed: 0", "customer_id", "label", "plan", "visits"]]
    else:  # one block; the medians' bins gathered at once; every set of values small enough
        assert passes[0][1] == 1 and selections == 1 and counted == []


@pytest.mark.parametrize("gather", [0, 5, 10**6])
def test_the_medians_are_numpys_to_the_bit(gather):
    """The selection on 64-bit keys, 16 bits a round, over blocks: numpy's median exactly, for
    values that differ in their last bits only, signed zeros, repeats, odd and even counts."""
    from chainrule.distributed_table import (
        _add_histograms,
        _histogram,
        _keys,
        _matching,
        _medians,
    )

    rng = np.random.default_rng(3)
    tiny = np.nextafter(1.0, 2.0) - 1.0
    columns = {"close": 1.0 + tiny * rng.integers(0, 9, 101), "signs": rng.choice(
        [-0.0, 0.0, -1e-300, 1e-300, -5.5], 64), "repeats": np.repeat([2.0, 3.0], [50, 50]),
        "wide": rng.standard_cauchy(1000) * 1e200, "one": np.array([-7.25])}
    blocks = {name: np.array_split(values, 4) for name, values in columns.items()}

    def run(asked):
        found = {"hist": {}, "gather": {}}
        for name, requests in asked.items():
            for kind, depth, prefix in requests:
                parts = [_keys(b) for b in blocks[name]]
                if kind == "hist":
                    results = [_histogram(k, depth, prefix) for k in parts]
                    total = results[0]
                    for more in results[1:]:
                        total = _add_histograms(total, more)
                    found["hist"][(name, depth, prefix)] = total
                else:
                    found["gather"][(name, depth, prefix)] = np.concatenate(
                        [_matching(k, depth, prefix) for k in parts])
        return found

    medians = _medians(run, {name: len(v) for name, v in columns.items()}, {}, gather)
    for name, values in columns.items():
        assert medians[name] == np.median(values), name


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_glob_of_two_files_is_prepared_as_their_rows_together(client, tmp_path, kind):
    import pandas
    import pyarrow

    from chainrule.tables import read_table

    folder = tmp_path / "parts"
    folder.mkdir()
    for index, rows in enumerate((180, 120)):
        path = real_table(folder / f"part-{index}.csv", rows, seed=index, start=1000 * index)
        if kind == "parquet":  # the second with pandas' index stored: not a column
            pandas.read_csv(path).to_parquet(folder / f"part-{index}.parquet",
                                             index=bool(index))
            path.unlink()
    files = sorted(str(f) for f in folder.iterdir())
    source = str(folder / "*.csv") if kind == "csv" else str(folder)
    data = chainrule_distributed.prepare_on_cluster(source, client=client, seed=1)
    table = pyarrow.concat_tables([read_table(f) for f in files])
    local, parts = local_reference(data, table)
    assert_same_preparation(data.preparation, local)
    assert "__index_level_0__" not in [c["name"] for c in data.preparation.columns]
    # Two files' index columns are not one index: whole numbers, repeated.
    assert data.preparation.columns[0]["role"] == "numeric"
    close(data.X_train.compute(), local.transform(table)[parts == 0])
    assert data.name == data.metadata["dataset"] == "parts"
    assert len(parts) == 300 and data.X_train.numblocks[0] == 2


def test_regression_and_binary_targets_on_the_cluster(client, tmp_path):
    from chainrule.tables import read_table

    path = str(real_table(tmp_path / "customers.csv"))
    table = read_table(path)
    data = chainrule_distributed.prepare_on_cluster(path, client=client, target="age")
    local, parts = local_reference(data, table, target="age")
    assert_same_preparation(data.preparation, local)
    assert data.task == "regression" and data.loss == "mse"
    assert (parts[np.isnan(table.column("age").to_numpy(zero_copy_only=False))] == -1).all()
    expected = local.target_units(local.table_targets(table), to_network=True)
    close(data.Y_train.compute(), expected[parts == 0])

    data = chainrule_distributed.prepare_on_cluster(path, client=client, target="member",
                                                    loss="binary_cross_entropy")
    local, parts = local_reference(data, table, target="member")
    assert_same_preparation(data.preparation, local)
    assert data.preparation.classes == ["no", "yes"] and data.Y_train.shape[1] == 1
    np.testing.assert_array_equal(data.Y_train.compute()[:, 0],
                                  local.table_targets(table)[parts == 0])


def test_bad_tables_on_the_cluster_name_the_file_and_column(client, tmp_path):
    import pandas

    path = str(real_table(tmp_path / "t.csv", 80))
    single = tmp_path / "single.csv"
    pandas.DataFrame({"a": np.arange(30.0), "y": ["same"] * 30}).to_csv(single, index=False)
    free = tmp_path / "free.csv"
    pandas.DataFrame({"a": np.arange(100.0), "y": [f"note {i}" for i in range(100)]}).to_csv(
        free, index=False)
    nothing = tmp_path / "nothing.csv"
    pandas.DataFrame({"id": np.arange(30), "y": [0, 1] * 15}).to_csv(nothing, index=False)
    cases = [
        (path, {"target": "nope"}, r"t.csv: no target column 'nope' \(columns: Unnamed: 0, "),
        (path, {"numeric": ["nope"]}, r"t.csv: --numeric: no column 'nope'"),
        (path, {"target": "since"}, r"t.csv: column 'since' holds date values, not a target"),
        (path, {"task": "regression"}, r"t.csv: column 'label': '\w+' is not a number"),
        (path, {"on_missing": "refuse"}, r"t.csv: row \d+, column 'age': the cell is empty"),
        (str(single), {}, r"single.csv: column 'y': the target has a single class \('same'\)"),
        (str(free), {}, r"free.csv: column 'y' is free text \(100 different values in 100 "),
        (str(nothing), {}, r"nothing.csv: no usable feature column: 'id' an identifier"),
        (str(tmp_path / "none-*.csv"), {}, r"none-\*.csv: no such file"),
    ]
    for source, options, message in cases:
        with pytest.raises(ValueError, match=message):
            chainrule_distributed.prepare_on_cluster(source, client=client, **options)


def test_blocks_typed_otherwise_are_read_as_the_whole_file_is(client, tmp_path, monkeypatch):
    """Blocks read alone type a column otherwise (whole numbers, then words; empty, then numbers;
    whole numbers, then fractions; yes/no, then a third word): the types are unified across the
    blocks, as pyarrow types the whole file, and the preparation is one process's."""
    from chainrule import distributed_table
    from chainrule.tables import read_table

    monkeypatch.setattr(distributed_table, "BLOCK_BYTES", 2000)
    rng = np.random.default_rng(5)
    path = tmp_path / "drift.csv"
    lines = ["code,late,ratio,answer,y"]
    for i in range(400):
        lines.append(",".join([
            str(rng.integers(0, 5)) if i < 350 else rng.choice(["x", "z"]),
            "" if i < 200 else f"{rng.normal():.3f}",
            str(rng.integers(0, 9)) if i < 300 else "2.5",
            rng.choice(["yes", "no"]) if i < 300 else rng.choice(["yes", "no", "maybe"]),
            f"{rng.normal():.4f}"]))
    path.write_text("\n".join(lines) + "\n")
    data = chainrule_distributed.prepare_on_cluster(str(path), client=client)
    assert len(data.held_out.blocks) > 3
    assert {name: str(kind) for name, kind in data.held_out.ctx["types"].items()} == {
        "code": "string", "late": "double", "ratio": "double", "answer": "string", "y": "double"}
    table = read_table(str(path))
    local, parts = local_reference(data, table)
    assert_same_preparation(data.preparation, local)
    assert {c["name"]: c["kind"] for c in data.preparation.columns} == {
        "code": "text", "late": "number", "ratio": "number", "answer": "text", "y": "number"}
    close(data.X_train.compute(), local.transform(table)[parts == 0])


@pytest.mark.parametrize("case", ["order", "names", "header", "empty", "unreadable"])
def test_a_bad_file_of_a_glob_is_one_line_before_training(tmp_path, capsys, monkeypatch, case):
    import builtins

    from chainrule.cli import main

    source = table_files(tmp_path / "g", "csv", rows=60)
    bad = tmp_path / "g" / "part-2.csv"
    bad.write_text({"order": "b,a,c,label\n1,2,3,0\n", "names": "a,b,d,label\n1,2,3,0\n",
                    "header": "a,b,c,label\n", "empty": ""}.get(case, "a,b,c,label\n1,2,3,0\n"))
    if case == "unreadable":
        bad.chmod(0)
        if os.geteuid() == 0:  # root reads it anyway: refused as a reader without the right
            real = builtins.open

            def refusing(path, *args, **kwargs):
                if isinstance(path, (str, os.PathLike)) and os.fspath(path) == str(bad):
                    raise PermissionError(13, "Permission denied", str(bad))
                return real(path, *args, **kwargs)
            monkeypatch.setattr(builtins, "open", refusing)
    code = main(["train", source, "--dask-workers", "2", "--epochs", "1", "--no-progress",
                 "--out", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "part-2.csv" in err
    assert not (tmp_path / "m.npz").exists()


def test_a_run_on_local_workers_prints_no_dask_log(tmp_path, capsys):
    import re

    from chainrule.cli import main

    source = table_files(tmp_path / "q", "csv", rows=60)
    code = main(["train", source, "--dask-workers", "2", "--epochs", "2", "--no-progress",
                 "--out", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert not [line for line in err.splitlines()
                if re.match(r"\d{4}-\d\d-\d\d|distributed\.", line)], err
