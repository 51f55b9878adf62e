"""The exception hierarchy of deyang-geo: every error a user can cause subclasses a built-in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem found in an input, located as precisely as known.

    Parameters
    ----------
    message
        What is wrong, in a planner's words.
    file
        The file at fault, if the input came from a file.
    row
        The 1-based data row (header excluded) at fault, if known.
    column
        The column at fault, if known.
    """

    message: str
    file: str | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        """Return ``file, row N, column 'c': message``, leaving out what is unknown."""
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class DeyangGeoError(Exception):
    """Base class for every error raised on purpose by deyang-geo."""


class InputError(DeyangGeoError, ValueError):
    """An input (file, table, geometry, option) is wrong; the message says what and where.

    Parameters
    ----------
    problems
        One message or several :class:`Problem` found together, so a user fixes a file in one
        pass.
    """

    def __init__(self, problems: str | Problem | Iterable[Problem | str]) -> None:
        if isinstance(problems, (str, Problem)):
            problems = [problems]
        self.problems: tuple[Problem, ...] = tuple(
            p if isinstance(p, Problem) else Problem(str(p)) for p in problems
        )
        if len(self.problems) == 1:
            msg = str(self.problems[0])
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            msg = f"{len(self.problems)} problems found:\n{lines}"
        super().__init__(msg)


class ConfigError(InputError):
    """A study configuration or standards catalog is wrong; the message names the key."""


class NetworkError(InputError):
    """A network source cannot give a usable graph (not OSM, no roads, outside the extent)."""


class InfeasibleError(DeyangGeoError, RuntimeError):
    """An optimisation model has no feasible solution under the given constraints."""


class SolverError(DeyangGeoError, RuntimeError):
    """The solver failed in a way that is not the model's fault."""


class InputWarning(UserWarning):
    """Something in an input looks suspicious but is not an error (swapped coordinates...)."""


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGTERM, SIGHUP): handled like Ctrl-C.

    Parameters
    ----------
    signum
        The signal number; the process exits with ``128 + signum``.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"signal {signum}")
