"""A GloVe trainer in PyTorch: AdaGrad over the non-zero co-occurrences, in large batches.

GloVe (Pennington, Socher & Manning, EMNLP 2014) fits word vectors :math:`w_i`, context vectors
:math:`v_j` and biases :math:`b_i, c_j` to the logarithm of the co-occurrence counts by weighted
least squares over the non-zero entries (their Eq. 8):

.. math::

    J = \\sum_{i,j:\\,X_{ij}>0} f(X_{ij})\\,(w_i^\\top v_j + b_i + c_j - \\log X_{ij})^2,
    \\qquad f(x) = \\min\\{(x/x_{\\max})^{a}, 1\\}  \\quad\\text{(their Eq. 9)}.

The original tool runs asynchronous AdaGrad (Duchi et al., 2011) over single entries. Here the
entries are shuffled once into large fixed batches that each epoch visits in a new random order;
each step sums the gradients of entries that share a word, and
applies AdaGrad with accumulators started at 1 and per-entry gradients clipped at ``grad_clip``,
as the tool does. Parameters start uniform in :math:`[-0.5, 0.5]/D`, as in the tool.
"""

from __future__ import annotations

import logging
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from uqkit._data import resolve_device, resolve_dtype
from uqkit._random import derive_seed
from uqkit.base import UQEstimator
from uqkit.embeddings._cooccurrence import check_cooccurrence
from uqkit.embeddings._weighting import glove_weight
from uqkit.exceptions import DivergenceError
from uqkit.training import Progress

__all__ = ["GloVe"]

_logger = logging.getLogger(__name__)


class GloVe(UQEstimator):
    """Train GloVe word vectors on a co-occurrence matrix (Pennington et al., 2014, Eq. 8).

    Parameters
    ----------
    n_components : int, default=50
        Dimension ``D`` of the word and context vectors.
    x_max : float, default=100
        Cut-off of the weighting function ``f`` (Eq. 9).
    weight_exponent : float, default=0.75
        Exponent :math:`a` of the weighting function (the paper's :math:`\\alpha`).
    lr : float, default=0.5
        AdaGrad step size. Larger than the tool's ``eta = 0.05``: a batch sums the gradients of
        all its entries that share a word into one step, so a frequent word takes far fewer
        steps per epoch than in the tool's one-entry-at-a-time updates (0.5 gave the best
        WordSim-353 correlation on the benchmark corpus, see ``docs/embeddings.md``).
    epochs : int, default=25
        Passes over the non-zero entries.
    batch_size : int, default=65536
        Non-zero entries per AdaGrad step.
    grad_clip : float, default=100
        Per-entry gradients are clipped to ``[-grad_clip, grad_clip]`` (as the tool's
        ``grad_clip_value``).
    random_state : int, RandomState, Generator or None, default=None
        Seeds initialisation and the order of entries (local torch generators only).
    device : str or torch.device, default="auto"
        Where to train; ``"auto"`` picks CUDA when available.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the parameters during training.
    verbose : int, default=0
        0 silent; 1 progress (a bar on a terminal, else one log line per tenth of the epochs);
        2 also the cost of every epoch at DEBUG (see docs/logging.md).

    Attributes
    ----------
    W_ : ndarray of shape (n_words, D)
        Word vectors :math:`w_i`.
    V_ : ndarray of shape (n_contexts, D)
        Context vectors :math:`v_j`.
    b_ : ndarray of shape (n_words,)
        Word biases.
    c_ : ndarray of shape (n_contexts,)
        Context biases.
    history_ : list of one dict
        The shared shape of uqkit's fitted histories, one entry for the one model:
        ``{"member": 0, "epochs": int, "best_epoch": int, "train_loss": [...], "val_loss": []}``;
        ``train_loss`` is the tool's cost after each epoch, :math:`\\tfrac12 J / \\mathrm{nnz}`
        (no validation data, so ``val_loss`` stays empty and ``best_epoch`` is the last epoch).
    n_iter_ : int
        Epochs run.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.exp(rng.normal(size=(30, 2)) @ rng.normal(size=(2, 30)) + 3)
    >>> glove = GloVe(n_components=2, epochs=200, batch_size=256, random_state=0).fit(X)
    >>> cost = glove.history_[0]["train_loss"]
    >>> glove.W_.shape, cost[-1] < 0.1 * cost[0]
    ((30, 2), True)
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "x_max": [Interval(Real, 0, None, closed="neither")],
        "weight_exponent": [Interval(Real, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "grad_clip": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "dtype": [StrOptions({"float32", "float64"})],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        n_components: int = 50,
        x_max: float = 100.0,
        weight_exponent: float = 0.75,
        lr: float = 0.5,
        epochs: int = 25,
        batch_size: int = 65536,
        grad_clip: float = 100.0,
        random_state=None,
        device: str | torch.device = "auto",
        dtype: str = "float32",
        verbose: int = 0,
    ) -> None:
        self.n_components = n_components
        self.x_max = x_max
        self.weight_exponent = weight_exponent
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.grad_clip = grad_clip
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.verbose = verbose

    def fit(self, cooccurrence, y=None) -> GloVe:
        """Fit the vectors and biases by AdaGrad on the weighted least-squares cost.

        Parameters
        ----------
        cooccurrence : scipy.sparse matrix, ndarray or Cooccurrences, shape (n_words, n_contexts)
            Co-occurrence counts; only the positive entries enter the cost.
        y : None
            Ignored; present for scikit-learn compatibility.

        Returns
        -------
        GloVe
            The fitted trainer.
        """
        self._check_params()
        matrix = check_cooccurrence(cooccurrence).tocoo()
        entropy = self._resolve_random_state()
        self.device_ = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype)
        device = self.device_
        n_words, n_contexts = matrix.shape
        dim = int(self.n_components)

        init = torch.Generator().manual_seed(derive_seed(entropy, 0))
        order = torch.Generator(device=device).manual_seed(derive_seed(entropy, 1))

        def uniform(*shape: int) -> torch.Tensor:
            values = (torch.rand(*shape, generator=init, dtype=torch.float64) - 0.5) / dim
            return values.to(device=device, dtype=dtype)

        # [w_i | b_i] and [v_j | c_j] in one table each: one gather and one scatter per side
        word_table = torch.cat([uniform(n_words, dim), uniform(n_words, 1)], dim=1)
        context_table = torch.cat([uniform(n_contexts, dim), uniform(n_contexts, 1)], dim=1)
        tables = [word_table, context_table]
        accumulators = [torch.ones_like(t) for t in tables]

        nnz = matrix.nnz
        lr, clip, batch_size = (
            float(self.lr),
            float(self.grad_clip),
            int(self.batch_size),
        )
        # Shuffle the entries once into fixed batches, each stored in row order for memory
        # locality (the order inside a batch does not change its summed gradient); every epoch
        # then visits the batches in a new random order.
        shuffle = torch.randperm(nnz, generator=order, device=device)
        blocks = [shuffle[s : s + batch_size].sort().values for s in range(0, nnz, batch_size)]
        shuffle = torch.cat(blocks)
        bounds = np.cumsum([0] + [len(block) for block in blocks])
        del blocks
        rows = torch.as_tensor(matrix.row, dtype=torch.long, device=device)[shuffle]
        cols = torch.as_tensor(matrix.col, dtype=torch.long, device=device)[shuffle]
        counts = torch.as_tensor(matrix.data, dtype=torch.float64, device=device)[shuffle]
        log_counts = torch.log(counts).to(dtype)
        weights = glove_weight(counts, float(self.x_max), float(self.weight_exponent)).to(dtype)
        del shuffle, counts

        train_loss: list[float] = []
        progress = Progress(int(self.epochs), "GloVe", verbose=self.verbose, logger=_logger,
                            unit="epoch")
        for epoch in range(int(self.epochs)):
            cost = torch.zeros((), dtype=torch.float64, device=device)
            for block in torch.randperm(len(bounds) - 1, generator=order, device=device).tolist():
                lo, hi = int(bounds[block]), int(bounds[block + 1])
                cost += _adagrad_step(
                    tables,
                    accumulators,
                    rows[lo:hi],
                    cols[lo:hi],
                    log_counts[lo:hi],
                    weights[lo:hi],
                    lr,
                    clip,
                )
            cost = float(cost) / nnz
            if not np.isfinite(cost) or not all(bool(torch.isfinite(t).all()) for t in tables):
                raise DivergenceError(
                    f"GloVe training diverged at epoch {epoch + 1} (cost {cost}). Lower "
                    f"lr (now {self.lr}) or grad_clip."
                )
            train_loss.append(cost)
            progress.set_postfix(cost=f"{cost:.6f}")
            progress.update(1)
        progress.close()
        self.n_iter_ = int(self.epochs)
        self.history_ = [
            {
                "member": 0,
                "epochs": self.n_iter_,
                "best_epoch": self.n_iter_,
                "train_loss": train_loss,
                "val_loss": [],
            }
        ]
        word_table, context_table = (t.cpu().numpy() for t in tables)
        self.W_, self.b_ = word_table[:, :dim].copy(), word_table[:, dim].copy()
        self.V_, self.c_ = context_table[:, :dim].copy(), context_table[:, dim].copy()
        return self


def _adagrad_step(
    tables: list[torch.Tensor],
    accumulators: list[torch.Tensor],
    rows: torch.Tensor,
    cols: torch.Tensor,
    log_counts: torch.Tensor,
    weights: torch.Tensor,
    lr: float,
    clip: float,
) -> torch.Tensor:
    """One AdaGrad step on a batch of entries; returns the batch's cost ``0.5 * sum f diff^2``.

    ``tables`` are ``[W | b]`` and ``[V | c]``; the gradient of the cost with respect to
    ``[w_i | b_i]`` is ``f diff [v_j | 1]`` and symmetrically for ``[v_j | c_j]``. Only the rows
    the batch touches are read and written (sparse AdaGrad), so a step costs O(batch), not
    O(vocabulary).
    """
    word_table, context_table = tables
    dim = word_table.shape[1] - 1
    word_rows = word_table.index_select(0, rows)
    context_rows = context_table.index_select(0, cols)
    diff = (word_rows[:, :dim] * context_rows[:, :dim]).sum(dim=1)
    diff += word_rows[:, dim] + context_rows[:, dim] - log_counts
    fdiff = weights * diff
    cost = 0.5 * torch.dot(fdiff, diff).double()
    word_rows[:, dim] = 1.0
    context_rows[:, dim] = 1.0
    grad_rows = context_rows.mul_(fdiff[:, None]).clamp_(-clip, clip)
    grad_cols = word_rows.mul_(fdiff[:, None]).clamp_(-clip, clip)
    for table, accumulator, index, grad in (
        (word_table, accumulators[0], rows, grad_rows),
        (context_table, accumulators[1], cols, grad_cols),
    ):
        touched, inverse = torch.unique(index, return_inverse=True)
        summed = torch.zeros(len(touched), dim + 1, dtype=grad.dtype, device=grad.device)
        summed.index_add_(0, inverse, grad)
        accumulated = accumulator.index_select(0, touched).addcmul_(summed, summed)
        accumulator.index_copy_(0, touched, accumulated)
        table.index_add_(0, touched, summed.div_(accumulated.sqrt_()), alpha=-lr)
    return cost
