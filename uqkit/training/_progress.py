"""Progress of a fit, in one place: a bar on an interactive terminal, a few log lines elsewhere.

One meaning of ``verbose`` for every uqkit estimator (docs/logging.md):

- ``0`` (the default): nothing is written, whatever the terminal.
- ``1``: progress. On an interactive terminal (``sys.stderr.isatty()``) a tqdm bar; otherwise
  (a file, a pipe, CI, a notebook, a ``GridSearchCV`` worker) at most one INFO record per tenth
  of the work on the ``uqkit`` logger, at most eleven lines per fit.
- ``2``: also per-epoch detail (validation loss, active members) as DEBUG records, and the
  workers' own output (Ray's ``log_to_driver``, Tune's trial-level tables).

The records go through :mod:`logging` like every uqkit message. When the program has not
configured logging at all (no handler anywhere above the logger), a fit that asked for progress
with ``verbose >= 1`` still shows it: the records are then handed to one stderr handler of this
module, so ``verbose=1`` in a plain script writes lines instead of nothing. Once logging is
configured, the records go only where the configuration sends them (set
``logging.getLogger("uqkit").setLevel(logging.INFO)`` to see them).
"""

from __future__ import annotations

import logging
import math
import sys
import time

__all__ = ["LINES_PER_FIT", "Progress", "interactive", "log_verbose"]

# one line per tenth of the work, plus a closing line when the work stops early
LINES_PER_FIT = 11



class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at each record (a captured or redirected stderr)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


_fallback = _StderrHandler()
_fallback.setFormatter(logging.Formatter("%(name)s: %(message)s"))


def interactive() -> bool:
    """Whether stderr is an interactive terminal (where a redrawn bar belongs).

    Examples
    --------
    >>> isinstance(interactive(), bool)
    True
    """
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced by an object without isatty
        return False


def _configured(logger: logging.Logger) -> bool:
    """Whether some handler other than a NullHandler would see this logger's records."""
    current: logging.Logger | None = logger
    while current is not None:
        if any(not isinstance(h, logging.NullHandler) for h in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def _emit(logger: logging.Logger, level: int, message: str) -> None:
    """``logger.log(level, message)``; with logging not configured at all, the record goes to
    the stderr handler of this module instead of being dropped (the caller asked for it)."""
    if _configured(logger):
        logger.log(level, message)
        return
    record = logger.makeRecord(logger.name, level, "(uqkit)", 0, message, None, None)
    _fallback.handle(record)


def log_verbose(logger: logging.Logger, verbose: int, message: str, *, detail: bool = False,
                ) -> None:
    """A message a fit writes because ``verbose`` asks for it: INFO at ``verbose >= 1``, or,
    with ``detail=True``, DEBUG at ``verbose >= 2``; nothing at ``verbose=0``.

    Like :class:`Progress`, it goes through ``logger``, and to stderr when logging is not
    configured at all.

    Examples
    --------
    >>> import logging
    >>> log_verbose(logging.getLogger("uqkit.example"), 0, "never written")
    """
    verbose = int(verbose or 0)
    if verbose >= (2 if detail else 1):
        _emit(logger, logging.DEBUG if detail else logging.INFO, message)


class Progress:
    """Progress of ``total`` units of work (member-epochs, epochs, trials), by ``verbose``.

    A drop-in for the part of a tqdm bar that uqkit's loops use: ``update(n)``,
    ``set_postfix(**values)``, ``n``, ``disable``, ``close()`` and the context manager.

    Parameters
    ----------
    total : int
        Units of work of the whole run.
    desc : str
        What runs, e.g. ``"Training 5 members"``.
    verbose : int
        0 silent; 1 progress (bar on a terminal, else log lines per tenth); 2 also per-update
        detail at DEBUG.
    logger : logging.Logger
        Where the lines go (the calling module's logger).
    unit : str, default "it"

    Examples
    --------
    Off a terminal, 100 updates give one INFO line per tenth of the work:

    >>> import logging
    >>> records = []
    >>> class Keep(logging.Handler):
    ...     def emit(self, record):
    ...         records.append(record.getMessage())
    >>> log = logging.getLogger("uqkit.example")
    >>> log.addHandler(Keep()); log.setLevel(logging.INFO)
    >>> with Progress(100, "Training", verbose=1, logger=log, unit="epoch") as progress:
    ...     for _ in range(100):
    ...         progress.update(1)
    >>> len(records), records[0].split(",")[0]
    (10, 'Training: 10% (10/100 epoch)')
    >>> with Progress(100, "Quiet", verbose=0, logger=log) as progress:
    ...     progress.update(100)
    >>> len(records)
    10
    """

    def __init__(self, total: int, desc: str, *, verbose: int, logger: logging.Logger,
                 unit: str = "it") -> None:
        self.total, self.desc, self.unit = max(int(total), 0), desc, unit
        self.verbose, self.logger = int(verbose or 0), logger
        self.disable = self.verbose <= 0
        self.n = 0
        self._bar = None
        self._tenths = 0
        self._postfix: dict = {}
        self._start = time.monotonic()
        self._closed = False
        if not self.disable and interactive():
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=desc, unit=unit, leave=False)

    # -- the tqdm part uqkit uses ----------------------------------------------------------
    def update(self, n: int = 1) -> None:
        """Advance by ``n`` units (negative to drop a failed attempt's work)."""
        if self.disable:
            return
        self.n += int(n)
        if self._bar is not None:
            self._bar.update(n)
            return
        tenths = 10 * min(self.n, self.total) // self.total if self.total else 0
        if tenths > self._tenths:
            self._tenths = tenths
            self._log(logging.INFO, self._line())

    def set_postfix(self, refresh: bool = True, **values) -> None:
        """Values shown next to the count (the bar's postfix, the log line's tail); at
        ``verbose >= 2`` each call is also a DEBUG record (per-epoch detail)."""
        if self.disable:
            return
        changed = values != self._postfix
        self._postfix = values
        if self._bar is not None:
            self._bar.set_postfix(refresh=refresh, **values)
        if self.verbose >= 2 and changed:  # a poll loop repeating itself adds no line
            self._log(logging.DEBUG, f"{self.desc}: " + self._values())

    def close(self) -> None:
        """End the run: close the bar, or log a last line if the work stopped short."""
        if self._closed:
            return
        self._closed = True
        if self.disable:
            return
        if self._bar is not None:
            self._bar.close()
        elif self._tenths < 10 and self.total:
            self._log(logging.INFO, self._line(stopped=True))

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- lines ---------------------------------------------------------------------------------
    def _values(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self._postfix.items())

    def _line(self, stopped: bool = False) -> str:
        share = math.floor(100 * self.n / self.total) if self.total else 100
        text = f"{self.desc}: {share}% ({self.n}/{self.total} {self.unit})"
        text += f", {time.monotonic() - self._start:.1f} s"
        if stopped:
            text += ", done (stopped before the budget)"
        if self._postfix:
            text += ", " + self._values()
        return text

    def _log(self, level: int, message: str) -> None:
        # with logging not configured, the caller still asked for progress: show it on stderr
        # instead of dropping it (Python's own last resort shows only warnings)
        _emit(self.logger, level, message)
