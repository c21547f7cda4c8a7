"""The folder of one search, ``<storage_path>/<experiment>``: its runs, the resume check, and
what earlier runs left (finished trials, failures).

Each (re)start of a search is one Ray Tune experiment ``run-NNN`` in that folder. ``resume=True``
collects the finished trials of every earlier run, counts them against ``n_trials``, tells them
to the searcher (warm start) and runs a new Tune experiment for the rest. Without Ray.

Damage is tolerated, never a traceback: a finished trial whose files cannot be read back is
retrained in place (same configuration, same seed) before the search goes on, a trial whose
record itself is lost is left unfinished (the search trains a new one in its place), an
unreadable ``failures.json`` or ``problem.json`` is set aside; one
:class:`~uqkit.search.DamagedTrialWarning` line says what was done.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from uqkit.exceptions import InvalidInputError
from uqkit.search._catalog import DamagedTrialWarning, finished_trials
from uqkit.search._trial import TrialSetup, run_trial

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
        self.notes: list[str] = []  # damage found and what was done, for one warning

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
            try:
                stored = json.loads(problem.read_text())["fingerprint"]
            except (OSError, ValueError, TypeError, KeyError):
                # every trial record carries the fingerprint too, so other problems' trials
                # are still left out: the file is only rewritten
                self.notes.append("problem.json was unreadable and is rewritten")
                stored = self.fingerprint
            if stored != self.fingerprint:
                raise InvalidInputError(
                    f"resume=True but the search in {str(self.root)!r} was run on other data or "
                    "another space (fingerprint mismatch). Pass the same data, validation split, "
                    "space and random_state, or use a new storage_path."
                )
        self.root.mkdir(parents=True, exist_ok=True)
        if problem.exists() and not problem.is_file():
            raise InvalidInputError(
                f"{str(problem)!r} is a folder, where uqkit keeps the search's problem file. It "
                "is not uqkit's: move it elsewhere, or use another storage_path."
            )
        problem.write_text(json.dumps({"fingerprint": self.fingerprint, **description}, indent=1))

    def earlier_results(self, data: dict | None = None,
                        setup: TrialSetup | None = None) -> tuple[list[dict], list[dict]]:
        """``(finished trial records, failed trial records)`` of the earlier runs.

        With ``data`` and ``setup`` (those of the search), damaged trials are first retrained
        in this process (:func:`~uqkit.search.run_trial` into their own checkpoint folder, the
        old ``trial.json`` kept as ``trial.json.damaged``); a trial whose configuration is lost
        too is left unfinished, so it does not count against the budget. Anything found
        damaged is reported in one :class:`DamagedTrialWarning`.
        """
        failed: list[dict] = []
        for run in self.runs:
            log = run / "failures.json"
            if log.exists():
                try:
                    entries = json.loads(log.read_text())
                    if not isinstance(entries, list) or not all(
                            isinstance(e, dict) and "trial_name" in e for e in entries):
                        raise ValueError("not a list of trial records")
                except (OSError, ValueError) as error:
                    # failed trials left no checkpoint and do not count against the budget:
                    # only their rows in the catalog are lost
                    self.notes.append(f"{run.name}/failures.json is unreadable "
                                      f"({type(error).__name__}) and is ignored")
                    continue
                failed += entries
        if data is not None and setup is not None:
            self._repair(data, setup)
        if self.notes:
            warnings.warn(f"Damaged AutoDEUQ storage {str(self.root)!r}: "
                          + "; ".join(self.notes) + ".", DamagedTrialWarning, stacklevel=2)
            self.notes = []
        return finished_trials(self.root, self.fingerprint), failed

    def _repair(self, data: dict, setup: TrialSetup) -> None:
        """Retrain every damaged finished trial of the earlier runs, in place."""
        damaged: list[dict] = []
        finished_trials(self.root, self.fingerprint, damaged)
        for entry in damaged:
            folder, record = entry["folder"], entry["record"]
            where = f"{entry['run']}/{entry['trial_name']}"
            reason = entry["reason"].splitlines()[0]
            # set aside first: an interrupted retraining leaves the trial unfinished, not stale
            (folder / "trial.json").replace(folder / "trial.json.damaged")
            if record is None:
                self.notes.append(f"{where}: {reason}, its configuration is lost, a new trial "
                                  "takes its place")
                continue
            try:
                run_trial(record["config"], data, setup, folder, name=record["trial_name"],
                          fingerprint=self.fingerprint, attempt=int(record.get("attempts", 1)))
            except Exception as error:  # reported below; the search trains a replacement
                cause = (str(error).strip().splitlines() or [""])[0]  # one warning line
                self.notes.append(f"{where}: {reason}, retraining failed "
                                  f"({type(error).__name__}: {cause}), a new trial takes its place")
                continue
            self.notes.append(f"{where}: {reason}, retrained")

    def trials(self) -> list[dict]:
        """Every finished trial of every run (this one included), oldest run first; trials
        whose files cannot be read back are left out, with one :class:`DamagedTrialWarning`."""
        damaged: list[dict] = []
        records = finished_trials(self.root, self.fingerprint, damaged)
        if damaged:
            names = ", ".join(f"{e['run']}/{e['trial_name']} ({e['reason'].splitlines()[0]})"
                              for e in damaged)
            warnings.warn(f"Damaged AutoDEUQ storage {str(self.root)!r}: {names}: left out of "
                          "the catalog; fit again with resume=True to retrain them.",
                          DamagedTrialWarning, stacklevel=2)
        return records

    def record_failures(self, run: str, failed: list[dict]) -> None:
        """Write the failed (or stopped) trials of ``run`` to its ``failures.json``."""
        (self.root / run).mkdir(parents=True, exist_ok=True)
        (self.root / run / "failures.json").write_text(json.dumps(failed, default=str))
