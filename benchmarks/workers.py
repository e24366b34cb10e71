"""One measurement in a fresh process: ``python benchmarks/workers.py WORKLOAD IMPL [options]``.

Prints one JSON line. ``run.py`` starts these processes, alternating implementations, so that
thread pools of different libraries never share a process (they compete for the cores) and no
run warms the caches of the next.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixed_cost import w1, w9  # noqa: E402
from floor import NumpyFloor  # noqa: E402


def limit_threads(threads: int | None, impl: str) -> None:
    if threads is None:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    if impl == "torch":
        import torch

        torch.set_num_threads(threads)


def digits_split():
    from chainrule.datasets import load_dataset

    data = load_dataset("digits")
    X = data.X / 16.0
    Y = np.eye(10)[data.y]
    order = np.random.default_rng(0).permutation(len(X))
    test, train = order[:450], order[450:]
    return X[train], Y[train], X[test], data.y[test]


# ---------------------------------------------------------------------------- W2
def torch_sgd_epochs(model, Xt, yt, epochs: int, batch: int, lr: float = 0.1) -> float:
    """Seconds of ``epochs`` passes of PyTorch SGD with cross-entropy over ``(Xt, yt)`` in
    batches of ``batch`` rows, reshuffled each epoch (W2's and W10's PyTorch loop)."""
    import torch

    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_function = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(Xt))
        for begin in range(0, len(Xt), batch):
            index = order[begin:begin + batch]
            optimizer.zero_grad()
            loss_function(model(Xt[index]), yt[index]).backward()
            optimizer.step()
    return time.perf_counter() - start


def w2(impl: str, batch: int, epochs: int = 50, seed: int = 0) -> dict:
    X, Y, X_test, y_test = digits_split()
    if impl == "chainrule":
        import chainrule

        net = chainrule.Network([64, 100, 10], activation="relu", output_activation="softmax",
                                loss="categorical_cross_entropy", seed=seed)
        net.fit(X[:batch], Y[:batch], epochs=1, learning_rate=1e-9, batch_size=batch)  # warm
        net = chainrule.Network([64, 100, 10], activation="relu", output_activation="softmax",
                                loss="categorical_cross_entropy", seed=seed)
        start = time.perf_counter()
        net.fit(X, Y, epochs=epochs, learning_rate=0.1, batch_size=batch, progress=False)
        elapsed = time.perf_counter() - start
        predicted = np.argmax(net.predict(X_test), axis=1)
    elif impl == "numpy_floor":
        NumpyFloor([64, 100, 10], seed=seed).fit(X[:batch], Y[:batch], 1, batch, 0.0)  # warm
        model = NumpyFloor([64, 100, 10], seed=seed)
        start = time.perf_counter()
        model.fit(X, Y, epochs, batch, 0.1, seed=seed)
        elapsed = time.perf_counter() - start
        predicted = np.argmax(model.predict(X_test), axis=1)
    elif impl == "sklearn":
        import warnings

        from sklearn.neural_network import MLPClassifier

        labels = np.argmax(Y, axis=1)
        model = MLPClassifier(hidden_layer_sizes=(100,), solver="sgd", momentum=0,
                              nesterovs_momentum=False, learning_rate_init=0.1, alpha=0,
                              tol=0, n_iter_no_change=10**9, max_iter=epochs, shuffle=True,
                              batch_size=batch, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            model.fit(X, labels)
            elapsed = time.perf_counter() - start
        predicted = model.predict(X_test)
    elif impl == "torch":
        import torch

        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Linear(64, 100), torch.nn.ReLU(),
                                    torch.nn.Linear(100, 10)).double()
        Xt, yt = torch.from_numpy(X), torch.from_numpy(np.argmax(Y, axis=1))
        elapsed = torch_sgd_epochs(model, Xt, yt, epochs, batch)
        with torch.no_grad():
            predicted = model(torch.from_numpy(X_test)).argmax(dim=1).numpy()
    else:
        raise SystemExit(f"unknown impl {impl}")
    return {"ms_per_epoch": elapsed / epochs * 1e3,
            "accuracy": float(np.mean(predicted == y_test))}


# ---------------------------------------------------------------------------- W3
def matmul_gflops(dtype) -> float:
    a = np.random.default_rng(0).random((1024, 1024)).astype(dtype)
    a @ a
    times = []
    for _ in range(5):
        start = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - start)
    return 2 * 1024**3 / min(times) / 1e9


def w3(impl: str, dtype: str, steps: int = 10) -> dict:
    sizes = [784, 1024, 1024, 10]
    batch = 512
    rng = np.random.default_rng(0)
    X = rng.random((batch, 784)).astype(dtype)
    Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, batch)]
    if impl == "chainrule":
        import chainrule

        net = chainrule.Network(sizes, activation="relu", output_activation="softmax",
                                loss="categorical_cross_entropy", seed=0, dtype=dtype)
        # One step of the training loop, as the others time one step: a fit of one epoch also
        # pays the run's fixed costs (checking the data, and after the last update a forward
        # pass over it, the divergence check: about a third of this step).
        trainer = net.trainer(X, Y, epochs=10**9, learning_rate=0.01, progress=False)

        def step():
            trainer.step()
    elif impl == "numpy_floor":
        model = NumpyFloor(sizes, dtype=np.dtype(dtype))

        def step():
            model.step(X, Y, 0.01)
    elif impl == "torch":
        import torch

        torch_dtype = torch.float32 if dtype == "float32" else torch.float64
        layers = [torch.nn.Linear(784, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024),
                  torch.nn.ReLU(), torch.nn.Linear(1024, 10)]
        model = torch.nn.Sequential(*layers).to(torch_dtype)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        loss_function = torch.nn.CrossEntropyLoss()
        Xt, yt = torch.from_numpy(X), torch.from_numpy(np.argmax(Y, axis=1))

        def step():
            optimizer.zero_grad()
            loss_function(model(Xt), yt).backward()
            optimizer.step()
    else:
        raise SystemExit(f"unknown impl {impl}")
    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = float(np.median(times))
    flops = 6 * batch * sum(a * b for a, b in zip(sizes, sizes[1:]))
    peak = matmul_gflops(dtype)
    return {"ms_per_step": seconds * 1e3, "gflops": flops / seconds / 1e9,
            "matmul_gflops": peak, "fraction": flops / seconds / 1e9 / peak}


# ---------------------------------------------------------------------------- W4
def w4(impl: str, rows: int, epochs: int) -> dict:
    rng = np.random.default_rng(0)
    X = rng.random((rows, 64))
    Y = np.eye(10)[rng.integers(0, 10, rows)]
    data_mib = (X.nbytes + Y.nbytes) / 2**20
    if impl == "chainrule":
        import chainrule

        net = chainrule.Network([64, 100, 10], activation="relu", output_activation="softmax",
                                loss="categorical_cross_entropy", seed=0)
        net.fit(X, Y, epochs=1, learning_rate=0.1, batch_size=200, progress=False)  # warm

        def run():
            net.fit(X, Y, epochs=epochs, learning_rate=0.1, batch_size=200, progress=False)
    elif impl == "numpy_floor":
        model = NumpyFloor([64, 100, 10])
        model.fit(X, Y, 1, 200, 0.1)

        def run():
            model.fit(X, Y, epochs, 200, 0.1)
    elif impl == "torch":
        import torch

        model = torch.nn.Sequential(torch.nn.Linear(64, 100), torch.nn.ReLU(),
                                    torch.nn.Linear(100, 10)).double()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        loss_function = torch.nn.CrossEntropyLoss()
        Xt, yt = torch.from_numpy(X), torch.from_numpy(np.argmax(Y, axis=1))

        def run():
            for _ in range(epochs):
                order = torch.randperm(len(Xt))
                for begin in range(0, len(Xt), 200):
                    index = order[begin:begin + 200]
                    optimizer.zero_grad()
                    loss_function(model(Xt[index]), yt[index]).backward()
                    optimizer.step()
    else:
        raise SystemExit(f"unknown impl {impl}")
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    # Peak memory allocated while training, beyond what existed before (the data included):
    # NumPy reports its allocations to tracemalloc; torch's own allocator does not, so for
    # torch the growth of the process's peak resident size is reported instead.
    import tracemalloc

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    run()
    peak = (tracemalloc.get_traced_memory()[1] - baseline) / 2**20
    tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before
    return {"ms_per_epoch": elapsed / epochs * 1e3,
            "us_per_row": elapsed / epochs / rows * 1e6, "data_mib": data_mib,
            "peak_extra_mib": max(rss_growth, 0.0) if impl == "torch" else peak}


@contextlib.contextmanager
def local_cluster(workers: int):
    """A local Dask cluster of ``workers`` one-thread worker processes, and its client."""
    import warnings

    from distributed import Client, LocalCluster

    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # one core per worker process, inherited
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        yield cluster, client
    finally:
        client.close()
        cluster.close()


# ---------------------------------------------------------------------------- W5
def w5(impl: str, rows: int, steps: int = 3) -> dict:
    """Full-batch steps on ``rows`` x 64 random data, 64-100-10: one process, or Dask workers."""
    import chainrule

    def network():
        return chainrule.Network([64, 100, 10], activation="relu", output_activation="softmax",
                                 loss="categorical_cross_entropy", seed=0)

    if impl == "numpy":
        rng = np.random.default_rng(0)
        X = rng.random((rows, 64))
        Y = np.eye(10)[rng.integers(0, 10, rows)]
        net = network()
        net.fit(X, Y, epochs=1, learning_rate=0.1, progress=False)
        start = time.perf_counter()
        net.fit(X, Y, epochs=steps, learning_rate=0.1, progress=False)
        return {"s_per_step": (time.perf_counter() - start) / steps}
    import dask.array as da

    from chainrule import distributed

    workers = int(impl.removeprefix("dask"))
    with local_cluster(workers) as (_, client):
        chunk = -(-rows // (2 * workers))
        generator = da.random.default_rng(0)
        X = generator.random((rows, 64), chunks=(chunk, 64))
        labels = generator.integers(0, 10, rows, chunks=chunk)
        Y = (labels[:, None] == da.arange(10)[None, :]).astype(float)
        X, Y = client.persist([X, Y])  # made on the workers: the driver never holds the data
        distributed.fit(network(), X, Y, client=client, epochs=1, learning_rate=0.1)  # warm
        start = time.perf_counter()
        distributed.fit(network(), X, Y, client=client, epochs=steps, learning_rate=0.1)
        elapsed = time.perf_counter() - start
    # The first of the timed fit's steps also loads the blocks and checks them.
    return {"s_per_step": elapsed / steps}


# ---------------------------------------------------------------------------- W6
def warm_memory(size: int) -> None:
    """Touch ``size`` bytes in a child process and free them: on this guest (a Firecracker VM
    that hands freed memory back to its host after a few seconds) memory touched for the first
    time costs about 3 s a GB, whoever touches it; run right after this, a reader gets pages the
    guest still holds, so what is timed is the reader's own work, the same for every reader."""
    subprocess.run([sys.executable, "-c", f"import numpy; numpy.ones({size // 8})"], check=True)


def w6(impl: str, path: str, warm: bool = True) -> dict:
    """Read a numeric CSV with a header into a float64 array, in a fresh process: seconds, and
    the growth of the process's peak resident size over the read (the libraries imported
    before, so their code is not counted; the same measure for every reader, since pyarrow's
    and pandas' allocations are invisible to tracemalloc).

    ``chainrule`` is what ``chainrule train`` does to a file: the typed read
    (``chainrule.tables.read_columns``: pyarrow's streaming reader in one byte range per core,
    the numbers landing in their float64 columns as each block is parsed) and the
    ``Preparation`` (roles, statistics, standardised float64 features); its two parts are timed
    apart. ``chainrule_numpy`` is the NumPy-only reader of ``chainrule.datasets.read_csv``.
    ``warm``: first :func:`warm_memory` four times the file's size."""
    if impl == "chainrule":
        import pyarrow

        from chainrule.features import Preparation
        from chainrule.tables import read_columns

        pyarrow.set_cpu_count(os.cpu_count() or 1)  # BLAS is pinned to one thread, not this
    elif impl == "pandas":
        import pandas
    elif impl == "chainrule_numpy":
        from chainrule.datasets import read_csv
    extra = {}
    if warm:
        warm_memory(4 * os.path.getsize(path))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    if impl == "chainrule":
        columns = read_columns(path)
        read_done = time.perf_counter()
        data = Preparation(None, task="regression").fit_transform(columns, consume=True)
        extra = {"read_seconds": read_done - start,
                 "prepare_seconds": time.perf_counter() - read_done}
    elif impl == "chainrule_numpy":
        data = read_csv(path)[1]
    elif impl == "loadtxt":
        data = np.loadtxt(path, delimiter=",", skiprows=1)
    elif impl == "pandas":
        data = pandas.read_csv(path).to_numpy(dtype=np.float64)
    else:
        raise SystemExit(f"unknown impl {impl}")
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before
    return {"seconds": elapsed, "peak_mib": peak, "data_mib": data.nbytes / 2**20,
            "mb_per_s": os.path.getsize(path) / 1e6 / elapsed, **extra}


# ---------------------------------------------------------------------------- W7
def w7_epoch(impl: str) -> dict:
    """Seconds per epoch of mini-batches of 256 (Adam) on 375,000 x 20 random rows, 20-100-2,
    in one process or on two Dask workers by block (the data persisted on them first; the
    median of epochs 2 and 3, after the first has loaded the blocks)."""
    import chainrule

    rng = np.random.default_rng(0)
    X = rng.normal(size=(375_000, 20))
    Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    options = dict(batch_size=256, learning_rate=0.01, optimizer="adam")

    def network():
        return chainrule.Network([20, 100, 2], activation="relu", output_activation="softmax",
                                 loss="categorical_cross_entropy", seed=0)

    if impl == "epoch-local":
        history = network().fit(X, Y, epochs=3, progress=False, **options)
    else:
        import dask.array as da

        from chainrule import distributed

        with local_cluster(2) as (_, client):
            Xd, Yd = client.persist([da.from_array(X, chunks=(94_000, 20)),
                                     da.from_array(Y, chunks=(94_000, 2))])
            history = distributed.fit(network(), Xd, Yd, client=client, epochs=3,
                                      batching="blocks", **options)
    times = np.diff([0.0, *history["time"]])
    return {"seconds": float(np.median(times[1:])), "first_epoch": float(times[0])}


def w7(impl: str, path: str) -> dict:
    """``chainrule train FILE`` with mini-batches of 256 for one epoch, in one process or out of
    core on a local Dask cluster of two workers: seconds, and the peak resident memory of the
    driver and of the largest worker."""
    import io

    from chainrule.cli import main as chainrule_main

    argv = ["train", path, "--epochs", "1", "--batch-size", "256", "--hidden", "100",
            "--no-progress", "--out", path + f".{impl}.npz"]
    peaks = [0.0]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if impl == "local":
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = chainrule_main(argv)
        elapsed = time.perf_counter() - start
    else:
        with local_cluster(2) as (cluster, client):
            batching = impl.split("-", 1)[1]
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                code = chainrule_main(argv + ["--dask", cluster.scheduler_address,
                                              "--dask-batching", batching])
            elapsed = time.perf_counter() - start
            peaks = list(client.run(
                lambda: __import__("resource").getrusage(0).ru_maxrss / 1024).values())
    if code != 0:
        raise SystemExit(f"chainrule train exited {code}")
    driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": elapsed, "driver_peak_mib": driver, "driver_growth_mib":
            driver - rss_before, "worker_peak_mib": max(peaks)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W9"])
    parser.add_argument("impl")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--path", default="")
    parser.add_argument("--cold", action="store_true",
                        help="W6: no warm_memory first (memory touched for the first time)")
    args = parser.parse_args()
    limit_threads(args.threads, args.impl)
    if args.workload == "W1":
        result = w1(args.impl)
    elif args.workload == "W2":
        result = w2(args.impl, args.batch, seed=args.seed)
    elif args.workload == "W3":
        result = w3(args.impl, args.dtype)
    elif args.workload == "W5":
        result = w5(args.impl, args.rows)
    elif args.workload == "W6":
        result = w6(args.impl, args.path, warm=not args.cold)
    elif args.workload == "W7" and args.impl.startswith("epoch-"):
        result = w7_epoch(args.impl)
    elif args.workload == "W7":
        result = w7(args.impl, args.path)
    elif args.workload == "W9":
        result = w9(args.impl)
    else:
        # About 400,000 rows per timing whatever the size, so that no size is timed over a few
        # steps only (warm-up and the per-fit checks would weigh on it).
        epochs = args.epochs or max(3, 400_000 // args.rows)
        result = w4(args.impl, args.rows, epochs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
