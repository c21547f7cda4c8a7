"""The prediction of every uqkit classifier: class probabilities and their entropy split."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from scipy import special

from uqkit.exceptions import InvalidInputError
from uqkit.prediction._arrays import (
    as_float_array,
    check_positive,
    check_probabilities,
    check_row_labels,
    check_weights,
    reduce_values,
)

__all__ = ["ClassificationPrediction"]


def _entropy(probs: np.ndarray, axis: int = -1) -> np.ndarray:
    return -np.sum(special.xlogy(probs, probs), axis=axis)


@dataclass(frozen=True, eq=False)
class ClassificationPrediction:
    """Predictive class probabilities with the entropy split of their uncertainty.

    ``total`` is the entropy of ``probs``. With members, ``aleatoric`` is the expected entropy of
    the members and ``epistemic`` the mutual information (Depeweg et al., ICML 2018, Eq. 4). With
    a Dirichlet ``concentration`` (evidential models) the closed forms of Malinin & Gales
    (NeurIPS 2018) are used: aleatoric :math:`= -\\sum_k p_k(\\psi(\\alpha_k+1)-\\psi(S+1))` for the
    concentration :math:`\\alpha` and its sum :math:`S`.

    Parameters
    ----------
    probs : ndarray of shape (n, C)
        Predictive probabilities; rows sum to one.
    member_probs : ndarray of shape (k, n, C), optional
        Each member's (or sample's) probabilities.
    weights : ndarray of shape (k,), optional
        Member weights summing to one (equal when omitted).
    concentration : ndarray of shape (n, C), optional
        Dirichlet concentration parameters.
    classes : ndarray of shape (C,), optional
        Class labels; defaults to ``0..C-1``.
    index : pandas.Index of length n, optional
        Row labels of the features predicted on (a DataFrame's index): estimators set it, and
        :meth:`to_frame` uses it; ``None`` for array input.

    Examples
    --------
    >>> import numpy as np
    >>> pred = ClassificationPrediction.from_members(
    ...     np.array([[[1.0, 0.0]], [[0.0, 1.0]]]))
    >>> pred.probs
    array([[0.5, 0.5]])
    >>> round(float(pred.epistemic[0]), 4)  # two confident members that disagree
    0.6931
    """

    probs: np.ndarray
    member_probs: np.ndarray | None = None
    weights: np.ndarray | None = None
    concentration: np.ndarray | None = None
    classes: np.ndarray | None = field(default=None)
    index: Any = None

    def __post_init__(self) -> None:
        # lists and tensors are stored as float arrays: every method reads .shape
        for name in ("probs", "member_probs", "concentration"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, as_float_array(getattr(self, name)))
        probs = self.probs
        if probs.ndim != 2:
            raise InvalidInputError(f"probs must have shape (n, C); got {probs.shape}.")
        if self.classes is None:
            object.__setattr__(self, "classes", np.arange(probs.shape[1]))
        if len(self.classes) != probs.shape[1]:
            raise InvalidInputError(
                f"{len(self.classes)} classes but probs has {probs.shape[1]} columns."
            )
        check_row_labels(self.index, probs.shape[0], "ClassificationPrediction")
        # probabilities off the simplex would give entropies and intervals that mean nothing
        owner = "ClassificationPrediction"
        check_probabilities(probs, "probs", owner)
        if self.member_probs is not None:
            check_probabilities(self.member_probs, "member_probs", owner)
            k = np.shape(self.member_probs)[0]
            if self.weights is not None:
                weights = check_weights(self.weights, k, owner)
                if not np.allclose(weights, self.weights, rtol=1e-9, atol=0.0):
                    object.__setattr__(self, "weights", weights)
        if self.concentration is not None:
            check_positive(self.concentration, "concentration", owner)

    @classmethod
    def from_members(cls, member_probs, weights=None, classes=None) -> ClassificationPrediction:
        """Average member probabilities (optionally weighted) into one prediction.

        The average is taken as an offset from the first member, so members that agree give
        exactly that member's probabilities (and exactly zero mutual information).

        Examples
        --------
        >>> import numpy as np
        >>> same = ClassificationPrediction.from_members(np.tile([[[0.2, 0.8]]], (3, 1, 1)))
        >>> same.probs, same.epistemic
        (array([[0.2, 0.8]]), array([0.]))
        """
        member_probs = as_float_array(member_probs)
        if member_probs.ndim != 3:
            raise ValueError(f"member_probs must have shape (k, n, C); got {member_probs.shape}.")
        k = member_probs.shape[0]
        owner = "ClassificationPrediction.from_members"
        check_probabilities(member_probs, "member_probs", owner)
        weights = np.full(k, 1.0 / k) if weights is None else check_weights(weights, k, owner)
        first = member_probs[0]
        probs = first + np.einsum("k,knc->nc", weights, member_probs - first)
        return cls(probs=probs, member_probs=member_probs, weights=weights, classes=classes)

    @classmethod
    def from_dirichlet(cls, concentration, classes=None) -> ClassificationPrediction:
        """Prediction of a Dirichlet ``Dir(concentration)``: ``probs = concentration / sum``.

        Examples
        --------
        >>> ClassificationPrediction.from_dirichlet([[1.0, 3.0]]).probs
        array([[0.25, 0.75]])
        """
        concentration = check_positive(
            concentration, "concentration", "ClassificationPrediction.from_dirichlet"
        )
        probs = concentration / concentration.sum(axis=-1, keepdims=True)
        return cls(probs=probs, concentration=concentration, classes=classes)

    @property
    def n_members(self) -> int:
        """Number of members (1 when there is no member axis)."""
        return 1 if self.member_probs is None else int(self.member_probs.shape[0])

    @property
    def total(self) -> np.ndarray:
        """Entropy of the predictive probabilities (nats)."""
        return _entropy(self.probs)

    @property
    def aleatoric(self) -> np.ndarray:
        """Expected entropy (members or Dirichlet closed form); equals ``total`` otherwise."""
        if self.concentration is not None:
            strength = self.concentration.sum(axis=-1, keepdims=True)
            digamma_gap = special.digamma(self.concentration + 1) - special.digamma(strength + 1)
            return -np.sum(self.probs * digamma_gap, axis=-1)
        if self.member_probs is not None:
            return np.einsum("k,kn->n", self.weights, _entropy(self.member_probs))
        return self.total

    @property
    def epistemic(self) -> np.ndarray:
        """Mutual information between the label and the model (≥ 0).

        With members it is computed as :math:`\\sum_k w_k\\,\\mathrm{KL}(p_k \\,\\|\\, \\bar p)`,
        which equals ``total - aleatoric`` and is exactly zero when the members agree; with a
        Dirichlet it is ``total - aleatoric`` (Malinin & Gales, 2018); 0 otherwise.
        """
        if self.concentration is None and self.member_probs is not None:
            keep = self.weights > 0  # a member of weight zero does not enter the mean
            members, weights = self.member_probs[keep], self.weights[keep]
            log_ratio = special.xlogy(members, members) - special.xlogy(members, self.probs[None])
            return np.maximum(np.einsum("k,kn->n", weights, log_ratio.sum(axis=-1)), 0.0)
        return np.maximum(self.total - self.aleatoric, 0.0)

    @property
    def vacuity(self) -> np.ndarray | None:
        """Dirichlet vacuity ``C / sum(concentration)`` (Sensoy et al., 2018); else ``None``."""
        if self.concentration is None:
            return None
        return self.concentration.shape[-1] / self.concentration.sum(axis=-1)

    @property
    def differential_entropy(self) -> np.ndarray | None:
        """Differential entropy of ``Dir(concentration)``; ``None`` without a concentration."""
        if self.concentration is None:
            return None
        a = self.concentration
        s = a.sum(axis=-1)
        log_beta = special.gammaln(a).sum(axis=-1) - special.gammaln(s)
        k = a.shape[-1]
        return (
            log_beta + (s - k) * special.digamma(s) - np.sum((a - 1) * special.digamma(a), axis=-1)
        )

    @property
    def label(self) -> np.ndarray:
        """Most probable class label per sample."""
        return np.asarray(self.classes)[np.argmax(self.probs, axis=-1)]

    @property
    def confidence(self) -> np.ndarray:
        """Probability of the most probable class."""
        return np.max(self.probs, axis=-1)

    def __len__(self) -> int:
        return int(self.probs.shape[0])

    def __getitem__(self, index) -> ClassificationPrediction:
        """Rows ``index`` of the prediction (the member axis is kept)."""
        changes = {"probs": self.probs[index]}
        if self.concentration is not None:
            changes["concentration"] = self.concentration[index]
        if self.member_probs is not None:
            changes["member_probs"] = self.member_probs[:, index]
        labels = None
        if self.index is not None and np.ndim(changes["probs"]) == 2:
            labels = self.index[index]
        return replace(self, **changes, index=labels)

    def class_index(self, y) -> np.ndarray:
        """Column index of each label in ``y``; raises for labels outside ``classes``.

        Examples
        --------
        >>> import numpy as np
        >>> pred = ClassificationPrediction(np.full((2, 2), 0.5), classes=np.array(["a", "b"]))
        >>> pred.class_index(["b", "a"])
        array([1, 0])
        """
        y = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y).reshape(-1)
        if len(y) != len(self):
            raise InvalidInputError(
                f"y has {len(y)} labels but the prediction has {len(self)} rows."
            )
        classes = np.asarray(self.classes)
        order = np.argsort(classes)
        position = np.searchsorted(classes[order], y)
        position = np.clip(position, 0, len(classes) - 1)
        index = order[position]
        unknown = classes[index] != y
        if np.any(unknown):
            raise InvalidInputError(
                f"y contains labels that are not among the classes {classes.tolist()}: "
                f"{np.unique(y[unknown]).tolist()[:10]}."
            )
        return index

    def log_prob(self, y) -> np.ndarray:
        """Log predictive probability of each label in ``y``."""
        index = self.class_index(y)
        p = self.probs[np.arange(len(index)), index]
        with np.errstate(divide="ignore"):
            return np.log(np.clip(p, 1e-300, None))

    def nll(self, y, reduction: str = "mean"):
        """Negative log-likelihood (cross-entropy) of the labels ``y``."""
        return reduce_values(-self.log_prob(y), reduction)

    def to_frame(self):
        """A pandas DataFrame: label, confidence, uncertainties and one column per class.

        The rows carry :attr:`index` (the index of the DataFrame predicted on) when there is one.
        """
        import pandas as pd

        frame = pd.DataFrame(
            {
                "label": self.label,
                "confidence": self.confidence,
                "total": self.total,
                "aleatoric": self.aleatoric,
                "epistemic": self.epistemic,
            },
            index=self.index,
        )
        for j, name in enumerate(np.asarray(self.classes).tolist()):
            frame[f"p_{name}"] = self.probs[:, j]
        return frame

    def __repr__(self) -> str:
        names = [f.name for f in fields(self) if getattr(self, f.name) is not None]
        return (
            f"ClassificationPrediction(n={len(self)}, classes={len(self.classes)}, "
            f"n_members={self.n_members}, fields={names})"
        )
