"""The attempt count of a search trial, and the error that ends its retries, kept on disk next
to the trials.

Both trainables use it: the one that trains in its Tune actor and the pooled one, whose actor
must not import torch. This module therefore imports only the standard library and Ray, and is
pickled by value (the pooled actor gets its code, not an import of ``uqkit``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ray import cloudpickle

__all__ = ["attempt_number", "final_error", "note_final_error"]


def attempt_number(folder: Path, trial_name: str) -> int:
    """This trial's 0-based attempt: one line per start in ``folder/<trial>.attempts``.

    Not in Tune's trial folder: a retry on a reused actor may be given another one.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> attempt_number(folder, "t0"), attempt_number(folder, "t0"), attempt_number(folder, "t1")
    (0, 1, 0)
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f"{trial_name}.attempts"
    previous = marker.read_text() if marker.exists() else ""
    marker.write_text(previous + f"{time.time()}\n")
    return len(previous.split())


def note_final_error(folder: Path, trial_name: str, kind: str, message: str) -> None:
    """Keep an error that the trial's configuration and seed determine (its class name
    ``kind`` and ``message``) for the trial's retries: :func:`final_error` gives it back."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    text = json.dumps({"kind": kind, "message": message})
    (Path(folder) / f"{trial_name}.final").write_text(text)


def final_error(folder: Path, trial_name: str) -> tuple[str, str] | None:
    """``(kind, message)`` of the error a retry of this trial would repeat
    (:func:`note_final_error`); None if there is none.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> final_error(folder, "t0") is None
    True
    >>> note_final_error(folder, "t0", "DivergenceError", "diverged at epoch 3")
    >>> final_error(folder, "t0"), final_error(folder, "t1")
    (('DivergenceError', 'diverged at epoch 3'), None)
    """
    marker = Path(folder) / f"{trial_name}.final"
    if not marker.exists():
        return None
    try:
        noted = json.loads(marker.read_text())
        return str(noted["kind"]), str(noted["message"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: the retry trains, as it would without the note


cloudpickle.register_pickle_by_value(sys.modules[__name__])
