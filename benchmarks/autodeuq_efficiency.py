"""AutoDEUQ search efficiency: how much of the trial slots' time goes into training.

The search of ``search/uci_quick.yaml`` (aging evolution, population 4, sample 2, networks of
up to 3 layers of 16-128 units, 40 epochs, early-stopping patience 5, 1 CPU per trial) on
split 0 of concrete, with ``--concurrency`` trials at once, for each ``--trials`` budget::

    efficiency = sum over trials of training seconds / (concurrency x search wall seconds)

* **training seconds** of a trial: the time of :func:`uqkit.search.fit_network` inside the
  trial (``train_seconds`` of its record: building the network and the training loop, the
  per-epoch validation loss of early stopping included), measured in the worker. Scoring the
  validation rows, the checkpoint, Tune's bookkeeping and the workers' start are overhead.
* **search wall seconds**: the time of :func:`uqkit.search.run_search` in ``fit`` (opening
  the folder, the Tune run, reading the catalog back); selection and the ensemble are not in it.
* **Ray start-up** (``ray.init``) is excluded and reported separately (``ray start``).

Two settings, each search in a fresh process, one after the other (same machine):

* ``before`` -- main's code path: Ray started with Ray's defaults (as main's ``connect_ray``),
  every trial trains in its Tune actor (``uqkit.search._trainable.train_trial``). Tune ends
  its actors with the search, so every search's actors import Ray Tune, torch, uqkit (and, on
  the first optimizer, ``torch._dynamo``) again: seconds of CPU per actor.
* ``after`` -- this branch: Ray started by :func:`uqkit.training.connect_ray`, which keeps idle
  workers alive; trials train in Ray tasks on pooled workers (``uqkit.search._pooled``), which
  stay warm between trials and searches, and the search warms them while Tune starts its
  (now light) actors.

and two sessions: ``cold`` (the search is the first of its Ray session) and ``warm`` (an
unmeasured search of ``2 x concurrency`` trials ran before it in the same Ray session, as in a
notebook or ``benchmarks/autodeuq_uci.py``).

The overhead breakdown splits ``concurrency x wall`` (the trial slots' time; one slot is one
Tune actor, reused for its trials) into: *search start* (from the start of ``run_search`` to
each slot's first trial entering the trainable: Tune set-up, actor start, imports), *trial
start* (a slot's previous trial reported to the driver until its next trial enters the
trainable: searcher, Tune's bookkeeping, actor reuse), *setup in trial* (retry count,
threads; for the first pooled trials, waiting for the search's warm-up of their workers),
*task dispatch* (pooled trials: handing the training to the task and its result back),
*scoring* (validation predictions), *checkpoint write*, *report* (``tune.report`` with its
checkpoint until the driver sees the result: checkpoint persisted to the storage, result
transport), and *search end* (a slot's last report until ``run_search`` returns: waiting for
the other slot's last trial, Tune's shutdown, the catalog read back). Imports inside a trial's
first training loop (``torch._dynamo`` on a cold worker) count as training: that flatters the
rows whose workers are cold.

Run from the repository root (data through ``UQKIT_DATA``)::

    python benchmarks/autodeuq_efficiency.py --trials 48 192 --repeats 1

The machine may be shared: the load average is written with the results.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "autodeuq_efficiency.md"
CONFIG = Path(__file__).parent.parent / "search" / "uci_quick.yaml"
PARTS = ("search start", "trial start", "setup in trial", "task dispatch", "scoring",
         "checkpoint write", "report", "search end")


NOTES = """\
Notes (read before quoting these numbers):

* **Load.** The machine's 2 cores were shared with other jobs (1-minute load average in the
  table). Training seconds per epoch change 2-4x with it, within a search and between rows;
  and the evolution takes another path in every search (its choices follow the order in
  which trials finish). Compare the efficiencies (a ratio of times of the same search), not
  the training seconds of different rows.
* **Training speed is not what changed.** The same 8 configurations (random search, same
  seed), trained in the trials' Tune actors and in pooled tasks on one Ray, twice each, took
  the same time per epoch (median ratio in-actor / pooled 0.97): the pooled trials remove
  overhead, they do not train faster.
* **Cold and warm.** In a cold session a pooled search still pays its workers' imports once
  (the first trials wait for the warm-up: *setup in trial*); a warm session pays only Tune's
  start of its light actors (*search start*). With trials in their actors every search pays
  the imports, warm session or not.
* Imports inside a trial's first training loop (``torch._dynamo`` on a cold worker) count as
  training: that flatters the rows whose workers start cold (every ``before`` row)."""


def _start_ray(setting: str) -> float:
    """Start the local Ray of a search that finds none; its seconds."""
    import ray

    from uqkit.training import connect_ray

    start = time.perf_counter()
    if setting == "before":  # main's connect_ray: Ray's defaults
        cpus = len(os.sched_getaffinity(0))
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False)
    else:
        connect_ray()
    return time.perf_counter() - start


def _search(n_trials: int, concurrency: int, X, y, callbacks: list, wall: dict):
    """One search of ``search/uci_quick.yaml`` (as ``uqkit search`` builds it) on ``X, y``."""
    from ray import tune

    import uqkit.search
    from uqkit.cli._search import build_estimator, load_config

    storage = Path(tempfile.mkdtemp(prefix="uqkit-efficiency-"))
    config = load_config(CONFIG)
    config["search"].update(n_trials=n_trials, max_concurrent=concurrency)
    args = argparse.Namespace(ray_address=None, checkpoint_dir=str(storage), seed=0,
                              n_trials=n_trials, resume=False, quiet=True)
    model = build_estimator(config, args)
    model.set_params(run_config=tune.RunConfig(storage_path=str(storage), callbacks=callbacks))
    run_search = uqkit.search.run_search

    def timed(*a, **k):  # the estimator looks run_search up in uqkit.search at fit time
        wall["begin"] = time.time()
        try:
            return run_search(*a, **k)
        finally:
            wall["end"] = time.time()

    uqkit.search.run_search = timed
    try:
        model.fit(X, y)
    finally:
        uqkit.search.run_search = run_search
        shutil.rmtree(storage, ignore_errors=True)
    return model


def child(setting: str, session: str, n_trials: int, concurrency: int, dataset: str) -> dict:
    """One measured search in this (fresh) process; its measurements as a dict."""
    from ray import tune

    import uqkit.search._own_tuner as own_tuner
    from uqkit.datasets import load_uci

    ray_start = _start_ray(setting)
    if setting == "before":  # main's trainable: every trial trains in its Tune actor
        own_tuner.runs_pooled = lambda runtime, resources: False
    X, y, _, _ = load_uci(dataset, split=0)
    if session == "warm":  # an earlier search in this Ray session, not measured
        _search(2 * concurrency, concurrency, X, y, [], {})
    completed: dict[str, float] = {}

    class Reports(tune.Callback):  # the driver's clock when each trial's last report arrived
        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            completed[trial.trial_id] = time.time()

    wall: dict[str, float] = {}
    model = _search(n_trials, concurrency, X, y, [Reports()], wall)
    keys = ("train_seconds", "trial_seconds", "setup_seconds", "checkpoint_seconds",
            "dispatch_seconds", "started_at")
    trials = [{"id": r.metrics["trial_id"], "pid": r.metrics["pid"],
               "epochs": r.metrics["epoch"], **{k: r.metrics[k] for k in keys}}
              for r in model.search_result_ if r.error is None]
    for trial in trials:
        trial["completed"] = completed[trial["id"]]
    return {"setting": setting, "session": session, "trials": n_trials,
            "concurrency": concurrency, "ray_start": ray_start, "begin": wall["begin"],
            "end": wall["end"], "records": trials, "load": os.getloadavg()[0]}


def breakdown(run: dict) -> dict:
    """Efficiency and the split of ``concurrency x wall`` of one search (seconds)."""
    records = sorted(run["records"], key=lambda r: r["started_at"])
    wall = run["end"] - run["begin"]
    parts = dict.fromkeys(PARTS, 0.0)
    slots: dict[int, list[dict]] = {}
    for record in records:
        slots.setdefault(record["pid"], []).append(record)
        parts["setup in trial"] += record["setup_seconds"]
        parts["scoring"] += record["trial_seconds"] - record["train_seconds"]
        parts["checkpoint write"] += record["checkpoint_seconds"]
        parts["task dispatch"] += record["dispatch_seconds"]
        reported = (record["started_at"] + record["setup_seconds"] + record["dispatch_seconds"]
                    + record["trial_seconds"] + record["checkpoint_seconds"])
        parts["report"] += record["completed"] - reported
    for slot in slots.values():
        parts["search start"] += slot[0]["started_at"] - run["begin"]
        parts["search end"] += run["end"] - slot[-1]["completed"]
        for previous, record in itertools.pairwise(slot):
            parts["trial start"] += record["started_at"] - previous["completed"]
    training = sum(r["train_seconds"] for r in records)
    epochs = sum(r["epochs"] for r in records)
    concurrency = run["concurrency"]
    # slots beyond the concurrency (a restarted actor) would double-count start and end
    return {"wall": wall, "training": training, "efficiency": training / (concurrency * wall),
            "ms_per_epoch": 1000 * training / max(epochs, 1),
            "slots": len(slots), "parts": parts, "n": len(records),
            "unaccounted": concurrency * wall - training - sum(parts.values())}


def _spawn(setting: str, session: str, n_trials: int, concurrency: int, dataset: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", setting, "--session", session,
         "--trials", str(n_trials), "--concurrency", str(concurrency), "--dataset", dataset],
        check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _label(row: dict) -> str:
    return f"{row['setting']}, {row['session']} session"


def table(rows: list[dict]) -> str:
    head = ("| trials | setting | ray start (s) | search wall (s) | training (s) "
            "| training per epoch (ms) | efficiency | efficiency / before | wall / before "
            "| load (1 min) |")
    lines = [head, "|---" * 10 + "|"]
    before: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["setting"] == "before":
            before.setdefault((row["trials"], row["session"]), []).append(row["stats"])
    for row in rows:
        stats = row["stats"]
        base = before.get((row["trials"], row["session"]), [])
        efficiency = np.median([b["efficiency"] for b in base]) if base else np.nan
        wall = np.median([b["wall"] for b in base]) if base else np.nan
        lines.append(f"| {row['trials']} | {_label(row)} | {row['ray_start']:.1f} | "
                     f"{stats['wall']:.1f} | {stats['training']:.1f} | "
                     f"{stats['ms_per_epoch']:.1f} | {stats['efficiency']:.1%} | "
                     f"{stats['efficiency'] / efficiency:.2f} | {stats['wall'] / wall:.2f} | "
                     f"{row['load']:.2f} |")
    return "\n".join(lines)


def parts_table(rows: list[dict]) -> str:
    head = "| trials | setting | " + " | ".join(PARTS) + " | slots |"
    lines = [head, "|---" * (len(PARTS) + 3) + "|"]
    for row in rows:
        stats = row["stats"]
        cells = [f"{stats['parts'][p] / stats['n'] * 1000:.0f}" for p in PARTS]
        lines.append(f"| {row['trials']} | {_label(row)} | " + " | ".join(cells)
                     + f" | {stats['slots']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[48, 192])
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--settings", nargs="+", default=["before", "after"],
                        choices=["before", "after"])
    parser.add_argument("--sessions", nargs="+", default=["cold", "warm"],
                        choices=["cold", "warm"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--dataset", default="concrete")
    parser.add_argument("--child", choices=["before", "after"], help=argparse.SUPPRESS)
    parser.add_argument("--session", choices=["cold", "warm"], help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--raw", type=Path, help="also keep every search's measurements (JSON)")
    parser.add_argument("--from-raw", type=Path, help="tables of an earlier --raw file")
    parser.add_argument("--command", help="the measuring command line, with --from-raw")
    args = parser.parse_args(argv)
    if args.child:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        print(json.dumps(child(args.child, args.session, args.trials[0], args.concurrency,
                               args.dataset)))
        return []

    rows = json.loads(args.from_raw.read_text()) if args.from_raw else []
    for _ in range(0 if args.from_raw else args.repeats):
        for n_trials in args.trials:
            for session in args.sessions:
                for setting in args.settings:
                    run = _spawn(setting, session, n_trials, args.concurrency, args.dataset)
                    run["stats"] = breakdown(run)
                    rows.append(run)
                    print(f"{n_trials} trials, {_label(run)}: efficiency "
                          f"{run['stats']['efficiency']:.1%}, wall {run['stats']['wall']:.1f} s,"
                          f" load {run['load']:.2f}", flush=True)
    for row in rows:  # (again for --from-raw: the tables of this code)
        row["stats"] = breakdown(row)
    if args.raw:
        args.raw.write_text(json.dumps(rows))
    command = args.command or " ".join(sys.argv[1:])
    started = time.gmtime(min(row["begin"] for row in rows))
    text = "\n\n".join([
        "# AutoDEUQ search efficiency",
        "Command: `python benchmarks/autodeuq_efficiency.py " + command + "`",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', started)}. Machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, shared with other jobs: "
        "the load average (1 min) at the end of each search is in the table.",
        f"Search: `search/uci_quick.yaml` on {args.dataset} split 0, {args.concurrency} trials "
        "at once, 1 CPU each; each row is one search in a fresh process (`cold`: the first "
        "search of its Ray session; `warm`: after an unmeasured search of "
        f"{2 * args.concurrency} trials in the same Ray session).",
        "## Efficiency\n\nefficiency = sum of the trials' training seconds / "
        "(concurrency x search wall seconds); Ray start-up (`ray start`) is excluded. The ratio "
        "is against the `before` row of the same budget and session.\n\n" + table(rows),
        "## Where the slots' time goes\n\nMilliseconds per trial of `concurrency x wall` that "
        "is not training (definitions in the module docstring).\n\n" + parts_table(rows),
        NOTES,
    ]) + "\n"
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
    return rows


if __name__ == "__main__":
    main()
