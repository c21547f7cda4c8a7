"""Networks and heads: stacked (vectorized) member networks and distribution heads."""

from uqkit.nn._activations import ACTIVATIONS
from uqkit.nn._dirichlet import (
    EVIDENCE_FUNCTIONS,
    DirichletHead,
    dirichlet_concentration,
    dirichlet_evidence,
)
from uqkit.nn._dropout import member_dropout, use_generator
from uqkit.nn._gaussian_value import GaussianHeadOutput, GaussianValueHead
from uqkit.nn._ggd import GGDHeadOutput, GGDValueHead
from uqkit.nn._heads import gaussian_head
from uqkit.nn._member_stack import MemberStack
from uqkit.nn._normal_inverse_gamma import NIGParameters, NormalInverseGammaHead, nig_parameters
from uqkit.nn._stacked import StackedLinear, StackedMLP, StackSpec, merge_members, select_members
from uqkit.nn._stacked_module import StackedModule
from uqkit.nn._value_prediction import gaussian_ensemble_prediction, ggd_ensemble_prediction

__all__ = [
    "ACTIVATIONS",
    "EVIDENCE_FUNCTIONS",
    "DirichletHead",
    "GGDHeadOutput",
    "GGDValueHead",
    "GaussianHeadOutput",
    "GaussianValueHead",
    "MemberStack",
    "NIGParameters",
    "NormalInverseGammaHead",
    "StackSpec",
    "StackedLinear",
    "StackedMLP",
    "StackedModule",
    "dirichlet_concentration",
    "dirichlet_evidence",
    "gaussian_ensemble_prediction",
    "gaussian_head",
    "ggd_ensemble_prediction",
    "member_dropout",
    "merge_members",
    "nig_parameters",
    "select_members",
    "use_generator",
]
