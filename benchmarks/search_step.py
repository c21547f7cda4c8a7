"""Training steps of one AutoDEUQ trial network: how it trains now against how it trained before.

An AutoDEUQ trial trains one network as a one-member stack. It used to run under ``vmap`` over
that one member and step its optimizer tensor by tensor (torch's CPU default); now the stack
calls its module directly and the optimizer steps all tensors at once (``foreach=True``). Both
are timed here in the same process, alternating, for networks sampled from the DeepHyper preset
(``DeepHyperSpace``, fixed seeds) on UCI energy split 0, with each variant's own copy of the same
initial weights. Reported: median seconds per training step and the ratio to *before*, with the
two changes also apart. Usage: ``python benchmarks/search_step.py [--networks 4 --repeats 3]``.
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.func import functional_call, vmap

from uqkit.datasets import load_uci
from uqkit.losses import GaussianMemberLoss
from uqkit.nn import StackSpec
from uqkit.search import DeepHyperSpace
from uqkit.search._network import make_search_net
from uqkit.training._loop import _OPTIMIZERS

RESULTS = Path(__file__).parent / "results" / "search_step.md"
VARIANTS = {  # name: (forward under vmap, foreach optimizer)
    "before (vmap, per-tensor step)": (True, False),
    "vmap, foreach step": (True, True),
    "direct, per-tensor step": (False, False),
    "now (direct, foreach step)": (False, True),
}


def vmapped(stack):
    """The forward pass of ``stack`` as it ran before: vmap over its one member."""
    template = stack._template[0]

    def forward(x):
        template.train(stack.training)
        params, buffers = stack._stacked_state()
        return vmap(lambda p, b, inputs: functional_call(template, (p, b), (inputs,)),
                    randomness="error")(params, buffers, x)
    return forward


def time_steps(stack, config, X, y, use_vmap: bool, foreach: bool, steps: int) -> float:
    """Seconds per training step (forward, Gaussian NLL, backward, optimizer step)."""
    stack = copy.deepcopy(stack).train()
    forward = vmapped(stack) if use_vmap else stack
    optimizer_class = getattr(torch.optim, _OPTIMIZERS[config["optimizer"]])
    optimizer = optimizer_class(stack.parameters(), lr=config["lr"], foreach=foreach)
    loss_fn = GaussianMemberLoss()
    batch = int(config["batch_size"])
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    start = None
    for step in range(steps + 5):  # 5 warm-up steps
        if step == 5:
            start = time.perf_counter()
        rows = order[(step * batch) % len(X):][:batch]
        raw = forward(X[rows][None])
        optimizer.zero_grad(set_to_none=True)
        loss_fn(raw, y[rows][None]).sum().backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=4, help="networks sampled from the space")
    parser.add_argument("--steps", type=int, default=300, help="timed steps per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    X_np, y_np, _, _ = load_uci("energy", 0)
    X = torch.as_tensor((X_np - X_np.mean(0)) / X_np.std(0), dtype=torch.float32)
    y = torch.as_tensor((y_np - y_np.mean()) / y_np.std(), dtype=torch.float32).reshape(-1, 1)
    space = DeepHyperSpace()
    rows = []
    for seed in range(args.networks):
        config = {**space.constants(), **space.sample(np.random.default_rng(seed))}
        architecture = space.architecture(config)
        factory = lambda i, o, a=architecture: make_search_net(i, o, architecture=a)  # noqa: E731
        stack = StackSpec(X.shape[1], 2, module_factory=factory).build([seed])
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(args.repeats):
            for name, (use_vmap, foreach) in VARIANTS.items():
                times[name].append(time_steps(stack, config, X, y, use_vmap, foreach, args.steps))
        medians = {name: statistics.median(t) for name, t in times.items()}
        params = sum(p.numel() for p in stack.parameters())
        rows.append((seed, config, architecture, params, medians))
        print(seed, {name: f"{1e3 * m:.2f} ms" for name, m in medians.items()}, flush=True)
    write(rows, args, n_rows=len(X))


def write(rows, args, n_rows: int) -> None:
    names = list(VARIANTS)
    base = names[0]
    lines = [
        "# Training steps of an AutoDEUQ trial network: now vs before",
        "",
        f"Produced by `benchmarks/search_step.py` (`--networks {args.networks} --steps "
        f"{args.steps} --repeats {args.repeats}`), torch {torch.__version__}, one thread, "
        f"{platform.machine()}. Networks sampled from the DeepHyper preset (seed = network), "
        f"one-member stacks on UCI energy split 0 (standardised, {n_rows} rows); the variants "
        "alternate and each figure is the median of the repeats, in ms per training step.",
        "",
        "| network | optimizer | batch | nodes | parameters | "
        + " | ".join(names) + " | now / before |",
        "|---|---|---|---|---|" + "---|" * len(names) + "---|",
    ]
    ratios = []
    for seed, config, architecture, params, medians in rows:
        dense = sum(1 for node in architecture["nodes"] if node["units"])
        ratio = medians[names[-1]] / medians[base]
        ratios.append(ratio)
        lines.append(
            f"| {seed} | {config['optimizer']} | {config['batch_size']} | {dense} dense "
            f"| {params} | " + " | ".join(f"{1e3 * medians[n]:.2f}" for n in names)
            + f" | {ratio:.2f} |")
    lines += ["", f"Median over networks of *now / before*: {statistics.median(ratios):.2f} "
              f"(a trial's training steps take that fraction of their former time; range "
              f"{min(ratios):.2f}-{max(ratios):.2f})."]
    Path(args.results).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
