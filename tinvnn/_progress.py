"""Progress output that reads well wherever it goes: one helper for every long loop.

The convention of well-behaved command-line tools (pip, cargo, curl):

* on a terminal (the stream's ``isatty()``), a tqdm bar that redraws itself in place;
* anywhere else (a file, a pipe, a CI log), no bar and no carriage return: a plain log line on
  the ``tinvnn.progress`` logger at most every ``interval`` seconds (10 by default), plus a last
  line when the loop ends if any line was written; a short loop writes nothing;
* ``enabled=False`` (the ``--no-progress`` flag of every long command): nothing at all.

tqdm is optional: without it a terminal gets the plain lines too. Only this module imports it.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import IO, Any, Generic, TypeVar

__all__ = ["Progress", "announce_compilation", "progress"]

T = TypeVar("T")

log = logging.getLogger("tinvnn.progress")

#: Seconds between two plain progress lines (when the stream is not a terminal).
DEFAULT_INTERVAL = 10.0


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


def _tqdm() -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


class Progress(Generic[T]):
    """Progress of a loop: a tqdm bar on a terminal, periodic log lines elsewhere, or nothing.

    Use it like a tqdm bar: iterate over it, or call :meth:`update` and :meth:`close` (or use it
    as a context manager); :meth:`set_postfix` adds ``key=value`` fields to the bar or the lines.

    Args:
        iterable: what to iterate over (None with :meth:`update`).
        desc: what the loop does ("epoch 1/10", "constructing").
        total: number of items (default: ``len(iterable)`` when it has one).
        unit: name of one item ("step", "city").
        enabled: False prints nothing (``--no-progress``).
        stream: where a bar would draw (default: ``sys.stderr``); only its ``isatty()`` is read
            for the plain lines, which go to the ``tinvnn.progress`` logger.
        interval: seconds between two plain lines.
        leave: keep the terminal bar on screen when the loop ends.

    Attributes:
        mode: ``"bar"``, ``"lines"`` or ``"off"``.

    Example:
        >>> total = 0
        >>> for x in Progress(range(3), desc="adding", enabled=False):
        ...     total += x
        >>> total
        3
    """

    def __init__(
        self,
        iterable: Iterable[T] | None = None,
        *,
        desc: str,
        total: int | None = None,
        unit: str = "it",
        enabled: bool = True,
        stream: IO[str] | None = None,
        interval: float = DEFAULT_INTERVAL,
        leave: bool = True,
    ) -> None:
        self.iterable = iterable
        self.desc = desc
        self.unit = unit
        self.interval = interval
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total = total
        self.n = 0
        self._postfix = ""
        self._start = time.monotonic()
        self._last_line = self._start
        self._lines = 0
        self._written_n = -1
        self._closed = False
        self._bar: Any = None
        stream = stream if stream is not None else sys.stderr
        tqdm = _tqdm() if enabled and _is_terminal(stream) else None
        if not enabled:
            self.mode = "off"
        elif tqdm is not None:
            self.mode = "bar"
            self._bar = tqdm(total=total, desc=desc, unit=unit, leave=leave, file=stream, mininterval=0.5)
        else:
            self.mode = "lines"

    def __iter__(self) -> Iterator[T]:
        if self.iterable is None:
            raise TypeError("Progress: nothing to iterate over (pass an iterable, or call update())")
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self) -> Progress[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """``n`` more items are done."""
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.mode == "lines":
            now = time.monotonic()
            if now - self._last_line >= self.interval:
                self._write(now)

    def set_postfix(self, **fields: Any) -> None:
        """Fields shown after the count (``loss=0.52``), on the bar or the next line."""
        self._postfix = ", ".join(f"{k}={v}" for k, v in fields.items())
        if self._bar is not None:
            self._bar.set_postfix(fields, refresh=False)

    def close(self) -> None:
        """End the bar, or write the last line when earlier lines were written."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.mode == "lines" and self._lines and self._written_n != self.n:  # not the same count twice
            self._write(time.monotonic())

    def _write(self, now: float) -> None:
        elapsed = now - self._start
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        percent = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        rate = f", {self.n / elapsed:.3g} {self.unit}/s" if elapsed > 0 else ""
        extra = f", {self._postfix}" if self._postfix else ""
        log.info("%s: %s %s%s, %.0f s%s%s", self.desc, count, self.unit, percent, elapsed, rate, extra)
        self._last_line = now
        self._lines += 1
        self._written_n = self.n


def progress(
    iterable: Iterable[T],
    *,
    desc: str,
    total: int | None = None,
    unit: str = "it",
    enabled: bool = True,
    leave: bool = True,
) -> Progress[T]:
    """``iterable`` with progress output (a bar on a terminal, log lines elsewhere): see :class:`Progress`.

    Example:
        >>> [x for x in progress(range(3), desc="copying", unit="file", enabled=False)]
        [0, 1, 2]
    """
    return Progress(iterable, desc=desc, total=total, unit=unit, enabled=enabled, leave=leave)


def announce_compilation(module: ModuleType, what: str) -> None:
    """Log one INFO line when numba actually compiles a function of ``module`` (a cache miss).

    numba compiles an ``@njit(cache=True)`` function on its first call for each signature and
    stores the machine code; later processes load it from the cache in milliseconds. The first
    compilation takes seconds with nothing to show for it, so this says what is happening, once
    per process, and says nothing when the code comes from the cache.

    Args:
        module: the module whose njit functions to watch (``tinvnn._kernels``).
        what: what is compiled, for the message ("the fused kernel").
    """
    from numba.core import event

    class _FirstCompile(event.Listener):
        def on_start(self, ev: Any) -> None:
            dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
            if getattr(getattr(dispatcher, "py_func", None), "__module__", None) == module.__name__:
                log.info("compiling %s (first use only, cached) ...", what)
                event.unregister("numba:compile", self)  # type: ignore[no-untyped-call]

        def on_end(self, ev: Any) -> None:
            pass

    event.register("numba:compile", _FirstCompile())  # type: ignore[no-untyped-call]
