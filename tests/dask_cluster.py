"""A local Dask cluster of two one-thread workers for the tests of the Dask path."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def local_client(processes: bool) -> Iterator:
    """A client of two workers (``processes``: each its own process, else threads of this
    one), closed with its cluster afterwards; the test is skipped without Dask."""
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask.array")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a cluster's start-up warnings are not the tests'
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                           processes=processes, dashboard_address=None)
        client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
