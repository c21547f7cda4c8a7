"""The fitted ``history_`` of a single-model Bayesian estimator, in the package-wide shape.

Every uqkit estimator's ``history_`` is a list with one dict per member; the GPs and Bayesian
MLPs are one model, so theirs holds one entry, member 0, with no validation losses (their
``X_val`` is only scored into ``validation_scores_``).
"""

from __future__ import annotations

__all__ = ["single_model_history"]


def single_model_history(train_loss: list[float], best_epoch: int | None = None) -> list[dict]:
    """``[{"member": 0, "epochs", "best_epoch", "train_loss", "val_loss": []}]``.

    Parameters
    ----------
    train_loss : list of float
        One value per epoch (per objective evaluation for L-BFGS).
    best_epoch : int, optional
        1-based index of the state that was kept; the last one when omitted.

    Examples
    --------
    >>> single_model_history([3.0, 2.0, 2.5], best_epoch=2)
    [{'member': 0, 'epochs': 3, 'best_epoch': 2, 'train_loss': [3.0, 2.0, 2.5], 'val_loss': []}]
    """
    losses = [float(v) for v in train_loss]
    best = len(losses) if best_epoch is None else int(best_epoch)
    entry = {"member": 0, "epochs": len(losses), "best_epoch": best}
    return [{**entry, "train_loss": losses, "val_loss": []}]
