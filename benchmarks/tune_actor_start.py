"""What a search pays before its first trial trains: Ray's actor start and Ray Tune's import.

Tune runs every trial in an actor and ends its actors with the search, so each search starts
one new actor per trial slot, and the actor imports Ray Tune (its class is a subclass of Tune's
``Trainable``). This benchmark measures that fixed cost and what it leaves of a short search's
efficiency (``benchmarks/autodeuq_efficiency.py`` defines efficiency and the per-trial parts):

1. **imports** in a fresh Python process: ``import ray`` (the baseline) and ``import ray.tune``
   after it (median of ``--repeats`` processes);
2. **actor start**: ``--slots`` actors at once, with the runtime environment of Tune's trial
   actors (asking for no CPU, so that none waits for one), until each answers a call: a plain
   actor (the baseline, in the same Ray session) and one that imports Ray Tune in its
   constructor, as Tune's trial actor does;
3. **warm searches** (``--searches`` of them): ``search/uci_quick.yaml`` on concrete,
   ``--trials`` trials, on a Ray that uqkit starts (the ``after, warm session`` setting of
   ``autodeuq_efficiency.py``): the seconds from the start of ``run_search`` until each Tune
   trial actor's constructor ran (Ray's timeline), the *search start* per slot, and Tune's
   per-trial loop (*trial start* + *report*, ms per trial).

From these, the **ceiling** of the efficiency of an ``n``-trial search on ``c`` slots, if
uqkit's own per-trial steps (setup, dispatch, scoring, checkpoint) and the wait at the end cost
nothing, for trials that train ``t`` seconds each::

    ceiling(t) = t / (t + c x search start per slot / n + Tune's per-trial loop)

and the shortest trial that can reach the 85% of issue 20, ``t* = 0.85 / 0.15 x (c x start /
n + loop)``. Run from the repository root, on an otherwise idle machine (data through
``UQKIT_DATA``)::

    python benchmarks/tune_actor_start.py --trials 48
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "tune_actor_start.md"
TARGET = 0.85


def import_seconds(repeats: int) -> dict[str, float]:
    """Median seconds of ``import ray`` and then ``import ray.tune`` in fresh processes."""
    code = ("import json, time; t = time.perf_counter(); import ray; a = time.perf_counter(); "
            "import ray.tune; b = time.perf_counter(); print(json.dumps([a - t, b - a]))")
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], check=True,
                                      capture_output=True, text=True).stdout)
            for _ in range(repeats)]
    return {"ray": statistics.median(r[0] for r in runs),
            "ray.tune": statistics.median(r[1] for r in runs)}


def actor_start_seconds(slots: int, repeats: int) -> dict[str, float]:
    """Median seconds until ``slots`` new actors (started at once) all answer a call."""
    import ray

    from uqkit.search._pooled import _tune_actor_env

    env = _tune_actor_env()

    class Plain:
        def ping(self) -> int:
            return os.getpid()

    class ImportsTune(Plain):
        def __init__(self) -> None:
            import ray.tune  # noqa: F401  (Tune's trial actor unpickles a Trainable subclass)

    times: dict[str, list[float]] = {"plain actor": [], "actor importing Ray Tune": []}
    for _ in range(repeats):
        for label, cls in zip(times, (Plain, ImportsTune), strict=True):
            remote = ray.remote(num_cpus=0, runtime_env=env)(cls)
            start = time.perf_counter()
            actors = [remote.remote() for _ in range(slots)]
            ray.get([actor.ping.remote() for actor in actors])
            times[label].append(time.perf_counter() - start)
            for actor in actors:
                ray.kill(actor)
            time.sleep(1.0)  # let the killed actors' processes exit
    return {label: statistics.median(values) for label, values in times.items()}


def search_start(n_trials: int, slots: int) -> dict:
    """One warm search as in ``autodeuq_efficiency.py``; when its trial actors were built."""
    import ray

    here = str(Path(__file__).parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    import autodeuq_efficiency

    run = autodeuq_efficiency.child("after", "warm", n_trials, slots, "concrete")
    stats = autodeuq_efficiency.breakdown(run)
    built = sorted(event["ts"] / 1e6 - run["begin"] for event in ray.timeline()
                   if event.get("ph") == "X" and event["name"] == "__init__"
                   and event["ts"] / 1e6 >= run["begin"])
    parts = stats["parts"]
    return {"wall": stats["wall"], "efficiency": stats["efficiency"], "slots": stats["slots"],
            "actors_built": built[:slots], "n": stats["n"],
            "start_per_slot": parts["search start"] / stats["slots"],
            "tune_loop": (parts["trial start"] + parts["report"]) / stats["n"],
            "train_per_trial": stats["training"] / stats["n"]}


def ceiling(t: float, slots: int, n_trials: int, start: float, loop: float) -> float:
    """The efficiency if only each slot's ``start`` and Tune's per-trial ``loop`` cost time."""
    return t / (t + slots * start / n_trials + loop)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="imports and actor starts")
    parser.add_argument("--searches", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    imports = import_seconds(args.repeats)
    # the first search starts the Ray that the others and the actors below use
    searches = [search_start(args.trials, args.slots) for _ in range(args.searches)]
    actors = actor_start_seconds(args.slots, args.repeats)
    load = os.getloadavg()[0]
    plain = actors["plain actor"]
    c = args.slots
    search_rows = []
    for search in searches:
        n, start, loop, t = (search["n"], search["start_per_slot"], search["tune_loop"],
                             search["train_per_trial"])
        built = ", ".join(f"{s:.2f}" for s in search["actors_built"])
        needed = TARGET / (1 - TARGET) * (c * start / n + loop)
        search_rows.append(
            f"| {search['wall']:.1f} | {search['slots']} | {built} | {start:.2f} | "
            f"{1000 * loop:.0f} | {t:.2f} | {search['efficiency']:.1%} | "
            f"{ceiling(t, c, n, start, loop):.1%} | {ceiling(t, c, n, plain, loop):.1%} | "
            f"{ceiling(t, c, n, 0.0, loop):.1%} | {needed:.2f} |")
    text = "\n\n".join([
        "# What a search pays before its first trial: Ray's actor start and Ray Tune's import",
        f"Command: `python benchmarks/tune_actor_start.py {' '.join(sys.argv[1:])}`",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Machine: "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"1-minute load average at the end {load:.2f}. Method and definitions: the module "
        "docstring of `benchmarks/tune_actor_start.py`.",
        "## Imports in a fresh Python (median of "
        f"{args.repeats})\n\n| import | seconds | / `import ray` |\n|---|---|---|\n"
        f"| `import ray` | {imports['ray']:.2f} | 1.00 |\n"
        f"| `import ray.tune` (after `ray`) | {imports['ray.tune']:.2f} | "
        f"{imports['ray.tune'] / imports['ray']:.2f} |",
        f"## {c} actors started at once (Tune's trial-actor runtime environment, median of "
        f"{args.repeats})\n\n| actor | seconds | / plain actor |\n|---|---|---|\n"
        + "\n".join(f"| {label} | {sec:.2f} | {sec / plain:.2f} |"
                     for label, sec in actors.items()),
        f"## Warm {args.trials}-trial searches on {c} slots, and their efficiency ceiling\n\n"
        "One row per search. *Actors built*: seconds from the start of `run_search` until "
        "each Tune trial actor's constructor ran. The ceilings take uqkit's own per-trial "
        "steps and the end-of-search wait as free, at the search's own training seconds per "
        "trial; they differ in what each slot's start costs: the measured *search start*, "
        "a plain actor's start (no Ray Tune import), nothing. *Needed*: the shortest trial "
        f"that can reach {TARGET:.0%} with the measured start.\n\n"
        "| wall (s) | slots | actors built (s) | search start per slot (s) | Tune's loop per "
        "trial (ms) | training per trial (s) | efficiency | ceiling | ceiling, plain actors "
        "| ceiling, no start | needed (s) |\n" + "|---" * 11 + "|\n" + "\n".join(search_rows),
    ]) + "\n"
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
    return {"imports": imports, "actors": actors, "searches": searches}


if __name__ == "__main__":
    main()
