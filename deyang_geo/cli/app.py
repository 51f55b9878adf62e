"""The ``deyang-geo`` command line: a thin skin over the public API.

Each command lives in a module ``_cli_<name>.py`` that defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; heavy imports happen inside ``run`` so that
``deyang-geo --help`` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

from deyang_geo import __version__
from deyang_geo.cli.common import echo, warnings_to_log
from deyang_geo.core.errors import DeyangGeoError, InfeasibleError, InputError, Interrupted

#: Command modules in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "demo",
    "run",
    "network",
    "access",
    "isochrones",
    "compliance",
    "suggest_sites",
    "report",
    "compare",
    "batch",
)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def _command_modules() -> list[ModuleType]:
    modules = []
    for name in COMMAND_MODULES:
        try:
            modules.append(importlib.import_module(f"deyang_geo.cli.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"deyang_geo.cli.{name}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with one sub-command per command module."""
    parser = argparse.ArgumentParser(
        prog="deyang-geo",
        description="15-minute service-circle planning: networks from OpenStreetMap, minutes to "
        "services, plan compliance, site suggestion, maps and reports.",
    )
    parser.add_argument("--version", action="version", version=f"deyang-geo {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    verbosity.add_argument("-v", "--verbose", action="store_true", help="print debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _configure_logging(*, quiet: bool, verbose: bool) -> None:
    level = logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO
    logger = logging.getLogger("deyang_geo")
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    for existing in logger.handlers:  # the console of this call (tests swap sys.stderr)
        if type(existing) is logging.StreamHandler:
            existing.stream = sys.stderr
    logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code (0 ok, 2 bad input or usage, 1 failure).

    Parameters
    ----------
    argv
        Arguments without the program name; ``None`` means ``sys.argv[1:]``.

    Returns
    -------
    int
        The process exit code.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return EXIT_USAGE
    _configure_logging(quiet=args.quiet, verbose=args.verbose)
    if args.quiet:
        warnings.simplefilter("ignore")
    try:
        with warnings_to_log(quiet=args.quiet), _signals_as_interrupts():
            return int(args._run(args))
    except (InputError, InfeasibleError) as exc:  # the user's input or target is at fault
        echo_err(f"error: {exc}")
        return EXIT_USAGE
    except DeyangGeoError as exc:
        echo_err(f"error: {exc}")
        return EXIT_FAILURE
    except Interrupted as exc:
        name = signal.Signals(exc.signum).name
        echo_err(f"interrupted by {name}: temporary files removed, unfinished results marked "
                 "INCOMPLETE.txt")
        return 128 + exc.signum
    except KeyboardInterrupt:
        echo_err("interrupted: temporary files removed, unfinished results marked "
                 "INCOMPLETE.txt")
        return 130
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno in _USER_ERRNOS:
            where = exc.filename if exc.filename is not None else "a file"
            echo_err(f"error: {where}: {exc.strerror or exc}")
            return EXIT_USAGE
        echo_err(f"internal error ({type(exc).__name__}): {exc}")
        echo_err("run again with --verbose for details, and please report it")
        if args.verbose:
            raise
        return EXIT_FAILURE


#: Operating-system errors that are the environment's or the user's doing, not a defect.
_USER_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EISDIR,
                          errno.ENOTDIR, errno.ENAMETOOLONG, errno.EDQUOT})

#: Signals handled like Ctrl-C: a scheduler's or ``timeout``'s SIGTERM, a closed terminal.
_SIGNALS = ("SIGTERM", "SIGHUP")


@contextlib.contextmanager
def _signals_as_interrupts() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Interrupted` so every clean-up runs, as on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, _frame: object) -> None:
        for number in previous:  # a second signal does not interrupt the clean-up
            signal.signal(number, signal.SIG_IGN)
        raise Interrupted(signum)

    for name in _SIGNALS:
        number = getattr(signal, name, None)
        if number is not None:
            previous[int(number)] = signal.signal(number, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def echo_err(message: str) -> None:
    """Print a message on standard error, surviving consoles that cannot show Chinese."""
    stream = sys.stderr
    encoding = getattr(stream, "encoding", None) or "utf-8"
    print(message.encode(encoding, errors="replace").decode(encoding), file=stream)


__all__ = ["build_parser", "echo", "main"]
