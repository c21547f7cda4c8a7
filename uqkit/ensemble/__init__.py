"""Ensembles: deep ensembles (Lakshminarayanan, Pritzel & Blundell, NeurIPS 2017), trained
vectorized, and AutoDEUQ (Egele et al., ICPR 2022), whose members are searched on Ray Tune with
:mod:`uqkit.search` and chosen by greedy selection from the catalog."""

from uqkit.ensemble._autodeuq import SearchFailedError
from uqkit.ensemble._autodeuq_classifier import AutoDEUQClassifier
from uqkit.ensemble._autodeuq_regressor import AutoDEUQRegressor
from uqkit.ensemble._classifier import DeepEnsembleClassifier
from uqkit.ensemble._regressor import DeepEnsembleRegressor
from uqkit.ensemble._selection import (
    MixtureObjective,
    MomentMatchedObjective,
    SelectionResult,
    SelectionWarning,
    greedy_selection,
    member_label_log_likelihoods,
    member_log_likelihoods,
    mixture_nll,
    moment_matched_nll,
    top_k_selection,
)

__all__ = [
    "AutoDEUQClassifier",
    "AutoDEUQRegressor",
    "DeepEnsembleClassifier",
    "DeepEnsembleRegressor",
    "MixtureObjective",
    "MomentMatchedObjective",
    "SearchFailedError",
    "SelectionResult",
    "SelectionWarning",
    "greedy_selection",
    "member_label_log_likelihoods",
    "member_log_likelihoods",
    "mixture_nll",
    "moment_matched_nll",
    "top_k_selection",
]
