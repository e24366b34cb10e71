import json
import os
import signal
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import chainrule  # noqa: E402
from chainrule import Network  # noqa: E402
from chainrule import distributed as chainrule_distributed  # noqa: E402
from chainrule.callbacks import Callback  # noqa: E402
from chainrule.exceptions import DivergenceError, DivergenceWarning  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


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

    source = table_files(tmp_path / "bad", "csv", bad="oops")
    code = main(["train", source, "--dask", client.scheduler.address, "--epochs", "1",
                 "--no-progress", "--out", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
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
