"""Ray backend scaling on CPUs: 4 equal members on 2 CPU workers against the serial backend.

Every configuration trains the same 4 members (same seeds, fixed epochs, no early stopping, so
each member does the same work) and is timed end to end (``fit_members`` call, data transfer and
rebuilding the stack included; Ray start-up and worker warm-up excluded, they are paid once per
process and reported separately). Configurations, interleaved in every repetition:

- ``serial, T threads``  — the reference: one member after another in this process;
- ``vectorized, T threads`` — all members as one stacked model in this process;
- ``ray 4x1`` — one task per member, 1 CPU (= 1 torch thread) each: 2 run at a time;
- ``ray 2x2`` — two tasks of 2 vectorized members, 1 CPU each, both at once;
- ``ray 1x4`` — one task of 4 vectorized members with 2 CPUs (2 threads).

The speedup column is the median time of the serial backend divided by the median time of the
row, measured in the same process. Run (from the repository root)::

    nice -n 10 python benchmarks/ray_scaling.py --repeats 3

The machine may be shared: medians over repetitions are reported, with the load average.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time

import torch


def _problem(n: int, d: int, hidden: tuple[int, ...], epochs: int, batch: int):
    from uqkit.nn import StackSpec
    from uqkit.training import GaussianMemberLoss, MemberData, TrainConfig

    generator = torch.Generator().manual_seed(0)
    X = torch.randn(n, d, generator=generator)
    y = torch.sin(X[:, :1]) + 0.1 * torch.randn(n, 1, generator=generator)
    spec = StackSpec(in_features=d, out_features=2, hidden_layers=hidden)
    config = TrainConfig(epochs=epochs, batch_size=batch, lr=1e-3, patience=None)
    return spec, GaussianMemberLoss(), MemberData(X, y), config


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs given to the local Ray")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
    args = parser.parse_args(argv)

    import ray

    from uqkit.training import RayOptions, fit_members

    spec, loss, data, config = _problem(args.samples, 8, tuple(args.hidden), args.epochs, 100)
    seeds = list(range(101, 101 + args.members))
    threads = args.cpus
    half = args.members // 2
    rays = {
        f"ray {args.members}x1 (1 CPU/task)": RayOptions({"num_cpus": 1}),
        f"ray 2x{half} (1 CPU/task)": RayOptions({"num_cpus": 1 / half}, members_per_task=half),
        f"ray 1x{args.members} ({args.cpus} CPUs/task)": RayOptions(
            {"num_cpus": args.cpus / args.members}, members_per_task=args.members),
    }

    start = time.perf_counter()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level=logging.ERROR,
             log_to_driver=False)
    ray_start = time.perf_counter() - start
    # warm-up: start the workers and import torch/uqkit in them (paid once per Ray session)
    warm = _problem(200, 8, (8,), 1, 100)
    for options in rays.values():
        fit_members(*warm[:3], seeds, warm[3], backend="ray", verbose=0, ray_options=options)
    warm_s = time.perf_counter() - start - ray_start

    def serial():
        torch.set_num_threads(threads)
        return fit_members(spec, loss, data, seeds, config, backend="serial", verbose=0)

    def vectorized():
        torch.set_num_threads(threads)
        return fit_members(spec, loss, data, seeds, config, backend="vectorized", verbose=0)

    def serial_1():
        torch.set_num_threads(1)
        try:
            return fit_members(spec, loss, data, seeds, config, backend="serial", verbose=0)
        finally:
            torch.set_num_threads(threads)

    runs = {f"serial, {threads} threads": serial, "serial, 1 thread": serial_1,
            f"vectorized, {threads} threads": vectorized}
    for name, options in rays.items():
        runs[name] = (lambda o: lambda: fit_members(spec, loss, data, seeds, config,
                                                    backend="ray", verbose=0, ray_options=o))(
            options)

    times: dict[str, list[float]] = {name: [] for name in runs}
    stacks = {}
    loads = [os.getloadavg()[0]]
    for rep in range(args.repeats):
        for name, run in runs.items():
            tic = time.perf_counter()
            stacks[name], _ = run()
            times[name].append(time.perf_counter() - tic)
            print(f"  rep {rep + 1}: {name:<28} {times[name][-1]:7.2f} s", flush=True)
        loads.append(os.getloadavg()[0])
    ray.shutdown()

    reference = next(iter(stacks.values())).state_dict()
    base = statistics.median(times[next(iter(runs))])
    rows = []
    for name in runs:
        state = stacks[name].state_dict()
        diff = max(float((state[k] - reference[k]).abs().max()) for k in reference)
        median = statistics.median(times[name])
        rows.append({"config": name, "median_s": median, "min_s": min(times[name]),
                     "max_s": max(times[name]), "speedup": base / median, "max_abs_diff": diff})
    print()
    print(f"{args.members} members, MLP 8-{'-'.join(map(str, args.hidden))}-2, "
          f"{args.samples} samples, batch 100, {args.epochs} epochs, float32; "
          f"Ray with {args.cpus} CPUs (start {ray_start:.1f} s, worker warm-up {warm_s:.1f} s); "
          f"{args.repeats} repetitions; 1-min load average {min(loads):.1f}-{max(loads):.1f} "
          f"on {os.cpu_count()} cores")
    print()
    print("| configuration | median s | min s | max s | speedup vs serial | max abs diff |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['config']} | {r['median_s']:.2f} | {r['min_s']:.2f} | {r['max_s']:.2f} | "
              f"{r['speedup']:.2f}x | {r['max_abs_diff']:.1e} |")
    return rows


if __name__ == "__main__":
    main()
