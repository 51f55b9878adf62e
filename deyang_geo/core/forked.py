"""One call run in a forked process while the caller goes on, with an in-process fallback.

A study computes its service areas while it computes access, coverage, compliance and sites:
on a machine with two or more cores the call runs in a forked child (which starts at once with
the caller's memory) and its result comes back pickled, equal to the value computed here. When
the child fails or dies, the call is made again in the caller, so its real error is raised.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["ForkedCall", "can_fork"]

_T = TypeVar("_T")


def can_fork() -> bool:
    """Whether a call can run in a forked process here.

    ``fork`` must be available, two or more CPUs free for this process, and this process
    allowed to have children (a daemonic one, such as a Dask worker's, is not).

    Returns
    -------
    bool
        True on a multi-core Linux machine.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    if multiprocessing.current_process().daemon:
        # a daemonic process (a Dask worker, a multiprocessing pool) may not have children
        return False
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cpus or 1) >= 2


class ForkedCall(Generic[_T]):
    """``call()`` running in a forked process (or already done here); :meth:`result` waits.

    Parameters
    ----------
    call
        A function of no arguments whose result can be pickled.
    background
        Run it in a forked process; None: when :func:`can_fork`. False calls it at once here.
    name
        The process's name (seen in ``ps``).
    """

    def __init__(self, call: Callable[[], _T], *, background: bool | None = None,
                 name: str = "deyang-geo worker") -> None:
        self._call = call
        self._done = False
        self._value: Any = None
        self._process: Any = None
        self._reader: Any = None
        if can_fork() if background is None else background:
            ctx = multiprocessing.get_context("fork")
            self._reader, writer = ctx.Pipe(duplex=False)
            self._process = ctx.Process(target=_child, args=(call, writer), name=name,
                                        daemon=True)
            gc.freeze()  # the child's collector leaves the inherited objects (and pages) alone
            try:
                self._process.start()
            except (AssertionError, OSError):  # no child possible here: call it here instead
                self._process = None
                self._reader.close()
                self._reader = None
            finally:
                gc.unfreeze()
            writer.close()  # the child holds the only writing end: its death ends the pipe
            if self._process is None:
                self._finish(call())
        else:
            self._finish(call())

    def _finish(self, value: _T) -> _T:
        self._value, self._done = value, True
        return value

    def result(self) -> _T:
        """Wait for the call and return its value.

        Warnings the child gave are given again here; when it failed or died, the call is
        made here, so its error is raised as it is.

        Returns
        -------
        object
            What the call returned.
        """
        if self._done:
            return self._value  # type: ignore[no-any-return]
        if self._reader is None:  # closed before its result was asked for: call it here
            return self._finish(self._call())
        message: Any = None
        try:
            message = self._reader.recv()
        except EOFError:  # the child died before answering
            message = None
        self._stop(terminate=False)
        if message is None or message[0] != "ok":
            return self._finish(self._call())
        _, value, caught = message
        for category, text in caught:
            warnings.warn(text, category, stacklevel=2)
        return self._finish(value)

    def close(self) -> None:
        """Stop the child if it is still running (its result is dropped)."""
        self._stop(terminate=True)

    def _stop(self, *, terminate: bool) -> None:
        if self._process is not None:
            if terminate and self._process.is_alive():
                self._process.terminate()
            self._process.join()
            self._process.close()
            self._process = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __del__(self) -> None:
        """Stop the child of a call whose result was never asked for (an error meanwhile)."""
        self._stop(terminate=True)

    def __enter__(self) -> ForkedCall[_T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _child(call: Callable[[], Any], writer: Any) -> None:
    """Body of the forked process: call, then send the value and the warnings."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = call()
        writer.send(("ok", value, [(w.category, str(w.message)) for w in caught]))
    except BaseException:  # the caller calls again and raises the real error
        writer.send(("failed",))
    finally:
        writer.close()
