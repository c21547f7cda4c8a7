"""The folder of one search, ``<storage_path>/<experiment>``: its runs, the resume check, and
what earlier runs left (finished trials, failures).

Each (re)start of a search is one Ray Tune experiment ``run-NNN`` in that folder. ``resume=True``
collects the finished trials of every earlier run, counts them against ``n_trials``, tells them
to the searcher (warm start) and runs a new Tune experiment for the rest. Without Ray.
"""

from __future__ import annotations

import json
from pathlib import Path

from uqkit.exceptions import InvalidInputError
from uqkit.search._catalog import finished_trials

__all__ = ["Experiment"]


class Experiment:
    """One search's folder on disk.

    Parameters
    ----------
    storage_path : str or Path
        Where searches are kept (a disk every node sees on a cluster).
    name : str
        The sub-folder of this search.
    fingerprint : str
        Digest of the problem (data, validation split, space, seed).

    Examples
    --------
    >>> import tempfile
    >>> experiment = Experiment(tempfile.mkdtemp(), "demo", fingerprint="abc")
    >>> experiment.open(resume=False, description={"task": "regression"})
    >>> experiment.next_run, experiment.earlier_results()
    ('run-000', ([], []))
    """

    def __init__(self, storage_path, name: str, fingerprint: str) -> None:
        self.root = Path(storage_path).expanduser().resolve() / name
        self.fingerprint = fingerprint
        self.runs: list[Path] = []

    @property
    def next_run(self) -> str:
        """Name of the Tune experiment this start runs."""
        return f"run-{len(self.runs):03d}"

    def open(self, *, resume: bool, description: dict) -> None:
        """Check that this start may use the folder, then record the problem in it.

        Raises
        ------
        InvalidInputError
            The folder holds a search and ``resume`` is false, or it holds another problem's
            search (fingerprint mismatch).
        """
        self.runs = sorted(p for p in self.root.glob("run-*") if p.is_dir())
        problem = self.root / "problem.json"
        if self.runs and not resume:
            raise InvalidInputError(
                f"{str(self.root)!r} already holds a search ({len(self.runs)} run(s)). Pass "
                "resume=True to continue it, or choose another storage_path / experiment name."
            )
        if resume and problem.exists():
            if json.loads(problem.read_text()).get("fingerprint") != self.fingerprint:
                raise InvalidInputError(
                    f"resume=True but the search in {str(self.root)!r} was run on other data or "
                    "another space (fingerprint mismatch). Pass the same data, validation split, "
                    "space and random_state, or use a new storage_path."
                )
        self.root.mkdir(parents=True, exist_ok=True)
        problem.write_text(json.dumps({"fingerprint": self.fingerprint, **description}, indent=1))

    def earlier_results(self) -> tuple[list[dict], list[dict]]:
        """``(finished trial records, failed trial records)`` of the earlier runs."""
        failed: list[dict] = []
        for run in self.runs:
            log = run / "failures.json"
            if log.exists():
                failed += json.loads(log.read_text())
        return finished_trials(self.root, self.fingerprint), failed

    def trials(self) -> list[dict]:
        """Every finished trial of every run (this one included), oldest run first."""
        return finished_trials(self.root, self.fingerprint)

    def record_failures(self, run: str, failed: list[dict]) -> None:
        """Write the failed (or stopped) trials of ``run`` to its ``failures.json``."""
        (self.root / run).mkdir(parents=True, exist_ok=True)
        (self.root / run / "failures.json").write_text(json.dumps(failed, default=str))
