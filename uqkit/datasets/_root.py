"""Where the shared benchmark data lives (``uci/``, ``images/``, ``corpus/``, ``text/``)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_root"]


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Folder holding the shared benchmark data (``uci/``, ``images/``, ...).

    Resolution order: ``root`` if given, then the ``UQKIT_DATA`` environment variable, then
    ``../shared/data`` next to the source checkout, then ``../shared/data`` from the working folder.

    Examples
    --------
    >>> data_root("/tmp").name
    'tmp'
    """
    if root is not None:
        return Path(root)
    if os.environ.get("UQKIT_DATA"):
        return Path(os.environ["UQKIT_DATA"])
    checkout = Path(__file__).resolve().parents[2]
    for candidate in (checkout.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "Cannot find the benchmark data folder. Pass root=... or set UQKIT_DATA to the folder "
        "that holds uci/, images/, text/."
    )
