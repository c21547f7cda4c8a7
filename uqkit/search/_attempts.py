"""The attempt count of a search trial, kept on disk next to the trials.

Both trainables use it: the one that trains in its Tune actor and the pooled one, whose actor
must not import torch. This module therefore imports only the standard library and Ray, and is
pickled by value (the pooled actor gets its code, not an import of ``uqkit``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ray import cloudpickle

__all__ = ["attempt_number"]


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


cloudpickle.register_pickle_by_value(sys.modules[__name__])
