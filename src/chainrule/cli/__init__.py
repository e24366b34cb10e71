"""The ``chainrule`` command: train, predict, evaluate, tutorial, explain, gradcheck, info.

Bad input never ends in a traceback: every problem is one line on stderr and exit code 2, and
no output file is left behind (files are written atomically, at the end, all of a run's
together). Ctrl-C, SIGTERM and SIGHUP end a command cleanly, with exit code 130, 143 or 129;
``train`` keeps the model of its last update (see :mod:`chainrule._signals`).

One module per command, each with its options (``add_parser``) and its run (``cmd_<name>``):
:mod:`~chainrule.cli.train` (its run in :mod:`~chainrule.cli.training_run`, on a Dask cluster
through :mod:`chainrule.distributed_run`), :mod:`~chainrule.cli.predict`,
:mod:`~chainrule.cli.evaluate` (both through :mod:`~chainrule.cli.model_table`),
:mod:`~chainrule.cli.tutorial`, :mod:`~chainrule.cli.explain`, :mod:`~chainrule.cli.gradcheck`,
:mod:`~chainrule.cli.info`, :mod:`~chainrule.cli.serve`. This module assembles the parser and
runs one command. The parser imports the names of the choices only; every command imports what
it uses when it runs, so that ``chainrule --version`` and ``chainrule train --help`` answer at
once.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

import numpy as np

from .. import _signals
from .._version import __version__
from . import evaluate, explain, gradcheck, info, predict, serve, train, tutorial
from .arguments import UsageError
from .evaluate import cmd_evaluate
from .explain import cmd_explain
from .flag_spelling import in_flags
from .gradcheck import cmd_gradcheck
from .info import cmd_info
from .predict import cmd_predict
from .serve import cmd_serve
from .standard_output import flush_stdout, named_stdout, quiet_stdout
from .train import _local_data as _local_data  # reached here by tests/test_features.py
from .train import cmd_train
from .tutorial import cmd_tutorial

__all__ = ["EXIT_BAD_INPUT", "EXIT_CODES", "EXIT_INTERRUPTED", "UsageError", "build_parser",
           "main"]

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # the shell's code for a program stopped by Ctrl-C (128 + SIGINT)
#: 128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP.
EXIT_CODES = _signals.EXIT_CODES

class _Help(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it says the default itself. A training
    option's help is the table's (:data:`chainrule.training.OPTIONS`, read here, when help is
    printed), then the command's note; without a default of the command's own, the table's."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        name = getattr(action, "training_option", None)
        if name is not None:
            from ..training.options import OPTIONS

            table = next(o for o in OPTIONS if o.name == name)
            text = "; ".join(part for part in (table.help.rstrip("."), action.training_note)
                             if part)
            if default is None and "default" not in text:
                shown = table.none if table.default is None else table.default
                return f"{text} (default: {shown})" if shown else text
        if "default" in text or default is None or default is False or default == [] \
                or default is argparse.SUPPRESS or not action.option_strings:
            return text
        shown = ",".join(map(str, default)) if isinstance(default, list) else "%(default)s"
        return f"{text} (default: {shown})".lstrip()


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as for every other bad input
        command = self.prog.partition(" ")[2]
        raise UsageError(f"{command}: {message}" if command else message)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, in the order ``--help`` lists them; each command's run is
    looked up here (``cmd_<name>`` of this module) when the parser is built."""
    parser = _Parser(prog="chainrule", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    for module, run in ((train, cmd_train), (predict, cmd_predict), (evaluate, cmd_evaluate),
                        (tutorial, cmd_tutorial), (explain, cmd_explain),
                        (gradcheck, cmd_gradcheck), (info, cmd_info), (serve, cmd_serve)):
        module.add_parser(commands, _Help).set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code. Bad input is one line on stderr and exit code 2.
    A stop request (Ctrl-C, SIGTERM, SIGHUP) ends a command cleanly (no lock or temporary file
    left) with exit code 128 + the signal's number (130, 143, 129); ``train`` keeps the model
    of the last update. NumPy's floating-point warnings never reach stderr: every result that
    could be non-finite is checked where it is made, and refused with a message of its own."""
    with _signals.installed(program=argv is None), np.errstate(all="ignore"), \
            warnings.catch_warnings(), named_stdout():
        warnings.simplefilter("ignore", RuntimeWarning)
        code = _run(argv)
        swallowed = _signals.unhandled()  # a stop request some library code caught
        return _interrupted(swallowed) if swallowed is not None else code


def _run(argv: Sequence[str] | None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_BAD_INPUT
        code = args.run(args)
        flush_stdout()
        return code
    except UsageError as exc:
        return _fail(str(exc))
    except ValueError as exc:  # the library's words: its keywords become the flags
        return _fail(in_flags(str(exc)))
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        quiet_stdout()
        return 0
    except OSError as exc:  # a file that cannot be read or written: one line, never a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}")
    except MemoryError:
        return _fail("not enough memory for this request; try a smaller network, batch or data")
    except KeyboardInterrupt as exc:  # Ctrl-C, or a _signals.Stopped
        _signals.unhandled()
        return _interrupted(getattr(exc, "signum", None))


def _interrupted(signum: int | None) -> int:
    print(f"chainrule: interrupted ({_signals.describe(signum)})", file=sys.stderr)
    return EXIT_CODES.get(signum, EXIT_INTERRUPTED) if signum else EXIT_INTERRUPTED


def _fail(message: str) -> int:
    print(f"chainrule: error: {message}".replace("\n", " "), file=sys.stderr)
    return EXIT_BAD_INPUT
