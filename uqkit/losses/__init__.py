"""Losses: the one Gaussian NLL, the member-loss protocol of the training loop and its losses."""

from uqkit.losses._critic import (
    CriticLoss,
    gaussian_critic_loss,
    ggd_critic_loss,
    risk_averse_weights,
)
from uqkit.losses._dirichlet import (
    DIRICHLET_LOSSES,
    EvidentialClassificationLoss,
    dirichlet_digamma_loss,
    dirichlet_kl_uniform,
    dirichlet_log_loss,
    dirichlet_mse_loss,
    evidential_classification_loss,
    kl_annealing_coefficient,
)
from uqkit.losses._evidential_member import DirichletMemberLoss, NIGMemberLoss
from uqkit.losses._gaussian import gaussian_nll
from uqkit.losses._ggd import ggd_excess_kurtosis, ggd_log_pdf, ggd_nll, ggd_pdf, ggd_variance
from uqkit.losses._inverse_variance import (
    biev_variance,
    biev_weights,
    biv_weights,
    effective_batch_size,
    find_xi,
    sample_excess_kurtosis,
)
from uqkit.losses._member import (
    CrossEntropyMemberLoss,
    GaussianMemberLoss,
    MemberLoss,
    row_mean,
)
from uqkit.losses._nig import (
    EvidentialRegressionLoss,
    evidential_regression_loss,
    nig_nll,
    nig_regularizer,
)

__all__ = [
    "DIRICHLET_LOSSES",
    "CriticLoss",
    "CrossEntropyMemberLoss",
    "DirichletMemberLoss",
    "EvidentialClassificationLoss",
    "EvidentialRegressionLoss",
    "GaussianMemberLoss",
    "MemberLoss",
    "NIGMemberLoss",
    "biev_variance",
    "biev_weights",
    "biv_weights",
    "dirichlet_digamma_loss",
    "dirichlet_kl_uniform",
    "dirichlet_log_loss",
    "dirichlet_mse_loss",
    "effective_batch_size",
    "evidential_classification_loss",
    "evidential_regression_loss",
    "find_xi",
    "gaussian_critic_loss",
    "gaussian_nll",
    "ggd_critic_loss",
    "ggd_excess_kurtosis",
    "ggd_log_pdf",
    "ggd_nll",
    "ggd_pdf",
    "ggd_variance",
    "kl_annealing_coefficient",
    "nig_nll",
    "nig_regularizer",
    "risk_averse_weights",
    "row_mean",
    "sample_excess_kurtosis",
]
