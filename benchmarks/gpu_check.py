"""GPU check of the Ray backend: members on GPU fractions, against one member at a time.

On a machine with CUDA this trains the same members (MLP regression, float32, fixed epochs)

1. with the ``serial`` backend on the GPU in this process — one member at a time (the baseline);
2. through Ray, one task per member with ``{"num_cpus": 1, "num_gpus": 1 / per_gpu}``, so that
   ``per_gpu`` members share each GPU;
3. through Ray, one task per GPU-sized group of ``per_gpu`` members, vectorized inside the task;
4. with the ``vectorized`` backend in this process (all members in one stacked model);

and prints, for every Ray member, the device it ran on, its host/pid and its training time, then
a table of wall times with the speedup over one member at a time, and the largest parameter
difference from the serial members. Ray start-up and the workers' CUDA warm-up are excluded
(reported separately). Without CUDA (or without Ray) it says so and exits with status 0 (1).

Run from the repository root (about a minute on one H100; ``--timeout`` caps it)::

    python benchmarks/gpu_check.py
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _problem(n: int, d: int, hidden: tuple[int, ...], epochs: int, batch: int):
    import torch

    from uqkit.losses import GaussianMemberLoss
    from uqkit.nn import StackSpec
    from uqkit.training import MemberData, TrainConfig

    generator = torch.Generator().manual_seed(0)
    X = torch.randn(n, d, generator=generator)
    y = torch.sin(X[:, :1]) + X[:, 1:2] ** 2 + 0.1 * torch.randn(n, 1, generator=generator)
    spec = StackSpec(in_features=d, out_features=2, hidden_layers=hidden)
    config = TrainConfig(epochs=epochs, batch_size=batch, lr=1e-3, patience=None)
    return spec, GaussianMemberLoss(), MemberData(X, y), config


def _on_timeout(signum, frame):
    print("gpu_check: time limit reached; stopping (partial output above).", flush=True)
    os._exit(3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--per-gpu", type=int, default=4, help="members sharing one GPU")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--timeout", type=int, default=170, help="hard cap in seconds")
    # a dry run of this script's logic on a machine without CUDA (Ray is told of a fake GPU,
    # the tasks fall back to the CPU); for developing the script, not for measurements
    parser.add_argument("--dry-run-on-cpu", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    device = "cpu" if args.dry_run_on_cpu else "cuda"

    try:
        import torch
    except ImportError:
        print("gpu_check: torch is not installed; nothing to check.")
        return 0
    if not torch.cuda.is_available() and not args.dry_run_on_cpu:
        print("gpu_check: no CUDA device is visible here; this check needs a GPU. Skipping.")
        return 0
    try:
        import ray
    except ImportError:
        print("gpu_check: Ray is not installed (pip install 'uqkit[search]'); cannot run.")
        return 1
    try:
        import uqkit  # noqa: F401
    except ImportError:  # a source checkout that is not installed: use it, in workers too
        sys.path.insert(0, str(ROOT))
    # Ray workers inherit this process's environment: make the checkout importable there.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if hasattr(signal, "SIGALRM"):
        signal.signal(signal.SIGALRM, _on_timeout)
        signal.alarm(args.timeout)

    from uqkit.training import RayBackend, fit_members, train_members_ray

    n_gpus = 1 if args.dry_run_on_cpu else torch.cuda.device_count()
    names = ["none (dry run)"] if args.dry_run_on_cpu else sorted(
        {torch.cuda.get_device_name(i) for i in range(n_gpus)})
    cpus = os.cpu_count() or 1
    print(f"torch {torch.__version__}, ray {ray.__version__}, {n_gpus} GPU(s): {names}, "
          f"{cpus} CPUs", flush=True)

    spec, loss, data, config = _problem(args.samples, 32, tuple(args.hidden), args.epochs,
                                        args.batch)
    seeds = list(range(1, args.members + 1))
    fraction = 1.0 / args.per_gpu
    shared = RayBackend(resources={"num_cpus": 1, "num_gpus": fraction})
    grouped = RayBackend(resources={"num_cpus": 1, "num_gpus": fraction},
                         members_per_task=args.per_gpu)

    tic = time.perf_counter()
    ray.init(num_cpus=cpus, num_gpus=n_gpus, include_dashboard=False,
             logging_level=logging.ERROR, log_to_driver=False)
    ray_start = time.perf_counter() - tic
    # warm-up: start the workers, import torch and create their CUDA contexts (once per session)
    tic = time.perf_counter()
    warm = _problem(512, 32, (8,), 1, 256)
    for backend in (shared, grouped):
        train_members_ray(*warm[:3], seeds, warm[3], backend=backend, device=device)
    fit_members(*warm[:3], seeds[:1], warm[3], backend="serial", device=device, verbose=0)
    warm_s = time.perf_counter() - tic
    print(f"Ray start {ray_start:.1f} s, worker and CUDA warm-up {warm_s:.1f} s", flush=True)

    def synchronize():
        if device == "cuda":
            torch.cuda.synchronize()

    def timed(run):
        synchronize()
        tic = time.perf_counter()
        out = run()
        synchronize()
        return out, time.perf_counter() - tic

    data_gpu = type(data)(data.X.to(device), data.y.to(device))
    runs = {}
    (serial, _), runs["serial: one member at a time (1 GPU)"] = timed(
        lambda: fit_members(spec, loss, data_gpu, seeds, config, backend="serial",
                            device=device, verbose=0))
    per_member_s = runs["serial: one member at a time (1 GPU)"] / args.members
    results = {}
    for name, backend in (
        (f"ray: 1 member/task, {fraction:g} GPU each ({args.per_gpu}/GPU)", shared),
        (f"ray: {args.per_gpu} vectorized members/task, 1 GPU each", grouped),
    ):
        results[name], runs[name] = timed(
            lambda b=backend: train_members_ray(spec, loss, data, seeds, config, backend=b,
                                                device=device))
    (vectorized, _), runs["vectorized: all members in one stack (1 GPU)"] = timed(
        lambda: fit_members(spec, loss, data_gpu, seeds, config, backend="vectorized",
                            device=device, verbose=0))

    reference = serial.state_dict()

    def max_diff(stack) -> float:
        state = stack.state_dict()
        return max(float((state[k] - reference[k]).abs().max()) for k in reference)

    for name, result in results.items():
        print(f"\n{name}")
        print("| member | device | host/pid | task | seconds in task |")
        print("|---:|---|---|---:|---:|")
        for r in result.records:
            print(f"| {r['member']} | {r['device']} | {r['host']}/{r['pid']} | {r['task']} | "
                  f"{r['seconds']:.2f} |")
        in_task = [r["seconds"] for r in result.records]
        print(f"median member time in its task {statistics.median(in_task):.2f} s "
              f"(alone on the GPU: {per_member_s:.2f} s)")

    diffs = {name: max_diff(result.stack) for name, result in results.items()}
    diffs["vectorized: all members in one stack (1 GPU)"] = max_diff(vectorized)
    base = runs["serial: one member at a time (1 GPU)"]
    print(f"\n{args.members} members, MLP 32-{'-'.join(map(str, args.hidden))}-2, "
          f"{args.samples} samples, batch {args.batch}, {args.epochs} epochs, float32")
    print("| configuration | wall s | speedup vs one at a time | max abs diff vs serial |")
    print("|---|---:|---:|---:|")
    for name, seconds in runs.items():
        diff = f"{diffs[name]:.1e}" if name in diffs else "0 (reference)"
        print(f"| {name} | {seconds:.2f} | {base / seconds:.2f}x | {diff} |")
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
