"""Tasks on a Dask cluster that refuse their block rather than fail: a worker's ``ValueError``
(bad input, an unreadable file) comes back to the driver as a value and is raised there, with its
message and without the worker's traceback on stderr; and blocks' results combined by a tree of
tasks in a fixed order."""

from __future__ import annotations

from typing import Any

__all__ = ["checked", "gather", "reduce", "submit"]


class _Refused:
    """A task's refusal of its block (a ``ValueError``), returned to the driver, which raises
    it, rather than raised on the worker (which would log it, traceback and all, on stderr)."""

    def __init__(self, error: ValueError) -> None:
        self.error = error


def _guarded(task: Any, *args: Any) -> Any:
    """``task(*args)`` on a worker, a refusal (bad input, a file not readable) returned as a
    :class:`_Refused`; one of ``args`` refused is passed on."""
    for arg in args:
        if isinstance(arg, _Refused):
            return arg
    try:
        return task(*args)
    except OSError as exc:
        where = exc.filename or next((a["path"] for a in args if isinstance(a, dict)
                                      and "path" in a), "the data")
        return _Refused(ValueError(f"{where}: cannot be read ({exc.strerror or exc})"))
    except ValueError as exc:
        exc.__traceback__ = None
        return _Refused(exc)


def submit(client: Any, task: Any, *args: Any) -> Any:
    return client.submit(_guarded, task, *args, pure=False)


def checked(result: Any) -> Any:
    """A guarded task's result; its refusal raised here, in the driver."""
    if isinstance(result, _Refused):
        raise result.error from None
    return result


def gather(client: Any, futures: list[Any]) -> list[Any]:
    return [checked(result) for result in client.gather(futures)]


def reduce(client: Any, futures: list[Any], combine: Any, *args: Any) -> Any:
    """Blocks' results combined by a tree of tasks pairing neighbours: a fixed order."""
    while len(futures) > 1:
        paired = [submit(client, combine, a, b, *args)
                  for a, b in zip(futures[::2], futures[1::2])]
        futures = paired + ([futures[-1]] if len(futures) % 2 else [])
    return checked(futures[0].result())
