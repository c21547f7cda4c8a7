"""Ray backend scaling on CPUs: 4 equal members on 2 CPU workers against the serial backend.

Every configuration trains the same 4 members (same seeds, fixed epochs, no early stopping, so
each member does the same work) and is timed end to end (``fit_members`` call, data transfer and
rebuilding the stack included; Ray start-up and worker warm-up excluded, they are paid once per
process and reported separately). Configurations, interleaved in every repetition:

- ``serial`` — the reference: one member after another in this process;
- ``vectorized`` — all members as one stacked model in this process;
- ``ray 4x1`` — one task per member, 1 CPU each: 2 run at a time on the 2 CPUs;
- ``ray 2x2`` — two tasks of 2 vectorized members, 1 CPU each, both at once;
- ``ray 1x4`` — one task holding all 4 members vectorized, on 1 CPU.

Every process uses one torch thread (``--threads`` changes the in-process baselines): on a
machine shared with other jobs, multi-threaded torch kernels can be many times slower than one
thread, because each parallel region waits for every one of its threads to be scheduled.

The speedup column is the median wall time of the serial backend divided by the median wall
time of the row, measured in the same process. On a machine shared with other jobs the wall time
says little about parallel scaling: the kernel shares the CPUs between sessions (autogroups), so
this benchmark gets its share however many processes it runs. The table therefore also gives the
CPU seconds spent (this process plus every Ray task's process) and an estimate of the wall time on
dedicated CPUs: this process's CPU time plus the tasks' CPU times laid out in submission order on
the task slots (``cpus // CPUs per task``), as Ray's FIFO scheduler runs them. Run (from the
repository root)::

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
    from uqkit.losses import GaussianMemberLoss
    from uqkit.nn import StackSpec
    from uqkit.training import MemberData, TrainConfig

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
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of this process")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
    args = parser.parse_args(argv)

    import ray

    from uqkit.training import RayBackend, fit_members, train_members_ray

    spec, loss, data, config = _problem(args.samples, 8, tuple(args.hidden), args.epochs, 100)
    seeds = list(range(101, 101 + args.members))
    threads = args.threads
    half = args.members // 2
    rays = {
        f"ray {args.members}x1 (1 CPU/task)": RayBackend(resources={"num_cpus": 1}),
        f"ray 2x{half} (1 CPU/task)": RayBackend(resources={"num_cpus": 1 / half},
                                                 members_per_task=half),
        f"ray 1x{args.members} (1 CPU/task)": RayBackend(
            resources={"num_cpus": 1 / args.members}, members_per_task=args.members),
    }

    start = time.perf_counter()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    for attempt in range(3):  # Ray gives its node 30 s to come up: too short on a busy machine
        try:
            ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level=logging.ERROR,
                     log_to_driver=False)
            break
        except Exception as err:
            ray.shutdown()
            if attempt == 2:
                raise
            print(f"Ray did not start ({err}); trying again.", flush=True)
    ray_start = time.perf_counter() - start
    # warm-up: start the workers and import torch/uqkit in them (paid once per Ray session)
    warm = _problem(200, 8, (8,), 1, 100)
    for backend in rays.values():
        fit_members(*warm[:3], seeds, warm[3], backend=backend)
    warm_s = time.perf_counter() - start - ray_start

    def in_process(backend):
        def run():
            torch.set_num_threads(threads)
            stack, _ = fit_members(spec, loss, data, seeds, config, backend=backend, verbose=0)
            return stack, []

        return run

    def on_ray(backend):
        def run():
            result = train_members_ray(spec, loss, data, seeds, config, backend=backend)
            tasks = {r["task"]: r["cpu_seconds"] for r in result.records}
            return result.stack, [tasks[t] for t in sorted(tasks)]

        return run

    runs = {f"serial ({threads} thread)": in_process("serial"),
            f"vectorized ({threads} thread)": in_process("vectorized")}
    runs.update({name: on_ray(backend) for name, backend in rays.items()})
    slots = {name: 1 for name in runs}  # how many tasks run at once
    slots.update({name: int(args.cpus // (b.resources["num_cpus"] * b.members_per_task))
                  for name, b in rays.items()})

    walls: dict[str, list[float]] = {name: [] for name in runs}
    cpus: dict[str, list[float]] = {name: [] for name in runs}
    estimates: dict[str, list[float]] = {name: [] for name in runs}
    stacks = {}
    loads = [os.getloadavg()[0]]
    for rep in range(args.repeats):
        for name, run in runs.items():
            tic, cpu_tic = time.perf_counter(), time.process_time()
            stacks[name], task_cpu = run()
            walls[name].append(time.perf_counter() - tic)
            driver_cpu = time.process_time() - cpu_tic
            cpus[name].append(driver_cpu + sum(task_cpu))
            # wall time on dedicated CPUs: this process's work, plus the tasks' CPU time laid
            # out in submission order on the free task slots (Ray's FIFO scheduling)
            free = [0.0] * slots[name]
            for seconds in task_cpu:
                free[free.index(min(free))] += seconds
            estimates[name].append(driver_cpu + max(free))
            print(f"  rep {rep + 1}: {name:<28} wall {walls[name][-1]:7.2f} s, "
                  f"CPU {cpus[name][-1]:7.2f} s", flush=True)
        loads.append(os.getloadavg()[0])
    ray.shutdown()

    reference = next(iter(stacks.values())).state_dict()
    base = statistics.median(walls[next(iter(runs))])
    base_estimate = statistics.median(estimates[next(iter(runs))])
    rows = []
    for name in runs:
        state = stacks[name].state_dict()
        diff = max(float((state[k] - reference[k]).abs().max()) for k in reference)
        wall, estimate = statistics.median(walls[name]), statistics.median(estimates[name])
        rows.append({"config": name, "wall_s": wall, "min_s": min(walls[name]),
                     "max_s": max(walls[name]), "speedup": base / wall,
                     "cpu_s": statistics.median(cpus[name]), "dedicated_s": estimate,
                     "dedicated_speedup": base_estimate / estimate, "max_abs_diff": diff})
    print()
    print(f"{args.members} members, MLP 8-{'-'.join(map(str, args.hidden))}-2, "
          f"{args.samples} samples, batch 100, {args.epochs} epochs, float32; "
          f"Ray with {args.cpus} CPUs (start {ray_start:.1f} s, worker warm-up {warm_s:.1f} s); "
          f"{args.repeats} repetitions; 1-min load average {min(loads):.1f}-{max(loads):.1f} "
          f"on {os.cpu_count()} cores")
    print()
    print("| configuration | wall s (median) | min-max | speedup vs serial (wall) | CPU s | "
          "est. wall on dedicated CPUs | est. speedup | max abs diff |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['config']} | {r['wall_s']:.2f} | {r['min_s']:.1f}-{r['max_s']:.1f} | "
              f"{r['speedup']:.2f}x | {r['cpu_s']:.2f} | {r['dedicated_s']:.2f} | "
              f"{r['dedicated_speedup']:.2f}x | {r['max_abs_diff']:.1e} |")
    return rows


if __name__ == "__main__":
    main()
