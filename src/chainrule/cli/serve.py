"""``chainrule serve``: the web playground (:mod:`chainrule.playground`), started on a local
address with a token; it needs the ``serve`` extra."""

from __future__ import annotations

from .arguments import UsageError, positive_count

__all__ = ["add_parser", "cmd_serve"]


def add_parser(commands, formatter_class):
    """``serve [--host H] [--port P] [--token T] ...``."""
    serve = commands.add_parser(
        "serve", help="the web playground: watch backpropagation live in the browser",
        formatter_class=formatter_class,
        description="Start a local web page that trains networks with chainrule and shows every "
                    "number the engine computes (see docs/playground.md). It prints a URL with a "
                    "token; the server refuses requests without the token, from other sites or "
                    "to other host names. Ctrl-C stops it.")
    serve.add_argument("--host", default="127.0.0.1",
                       help="the address to listen on; another than 127.0.0.1 exposes the page "
                            "to the network (anyone with the URL can use it), and 0.0.0.0 "
                            "answers to this machine's host name and addresses")
    serve.add_argument("--port", type=int, default=8765,
                       help="the port to listen on; 0 takes any free port")
    serve.add_argument("--token", help="the token the URL carries (default: a new random one "
                                       "each start)")
    serve.add_argument("--no-browser", action="store_true",
                       help="print the URL without opening a browser")
    serve.add_argument("--max-sessions", type=positive_count, default=32,
                       help="tabs served at once; the least recently used goes first")
    serve.add_argument("--memory-budget", type=positive_count, metavar="MiB",
                       help="memory all sessions together may hold; beyond it the least "
                            "recently used idle ones go, and a run that cannot fit is refused "
                            "(default: 2048, docs/playground.md)")
    return serve


def cmd_serve(args) -> int:
    """Serve the playground until Ctrl-C."""
    try:
        import uvicorn  # noqa: F401 - the server's; checked here to say what is missing

        from ..playground.server import serve
    except ImportError as exc:
        raise UsageError(f"chainrule serve needs the serve extra ({exc.name} is missing): "
                         "pip install 'chainrule[serve]'") from None
    try:
        budget = {} if args.memory_budget is None else {
            "memory_budget": args.memory_budget * 2**20}
        serve(host=args.host, port=args.port, token=args.token,
              open_browser=not args.no_browser, max_sessions=args.max_sessions, **budget)
    except KeyboardInterrupt:
        pass
    return 0

