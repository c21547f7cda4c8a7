"""Shared pytest set-up: one torch thread per test process (the suite runs with xdist)."""

import os

import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(1)
