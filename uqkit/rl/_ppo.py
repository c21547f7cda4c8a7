"""PPO with a generalized-Gaussian ensemble critic (Kim et al., 2024) on stable-baselines3.

Requires stable-baselines3 and gymnasium (``pip install 'uqkit[rl]'``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from uqkit._data import check_positive_ints, resolve_device
from uqkit.exceptions import DivergenceError, InvalidInputError, require
from uqkit.losses import CriticLoss, gaussian_critic_loss, ggd_critic_loss
from uqkit.prediction import RegressionPrediction
from uqkit.rl._buffer import EnsembleRolloutBuffer
from uqkit.rl._policy import ErrorModel, GGDActorCriticPolicy
from uqkit.training import log_verbose

_ppo = require("stable_baselines3.ppo", "rl")
_spaces = require("gymnasium.spaces", "rl")
_sb3_utils = require("stable_baselines3.common.utils", "rl")

__all__ = ["GGDPPO"]

_logger = logging.getLogger(__name__)


class GGDPPO(_ppo.PPO):
    """PPO whose value function is an ensemble of GGD (or Gaussian) critics.

    Every critic member :math:`i` predicts a value :math:`V_i(s)` and the shape :math:`\\beta_i(s)`
    (and optionally the scale :math:`\\alpha_i(s)`; ``shape`` and ``scale`` in uqkit's names) of a
    generalized Gaussian model of its TD error
    (Kim et al., "Generalized Gaussian Temporal Difference Error for Uncertainty-aware Reinforcement
    Learning", 2024). Each member is trained on its own GAE(λ) return :math:`R_i` with

    .. math::

        L_{critic} = \\underbrace{\\frac1B\\sum_k\\sum_i \\frac{\\beta_{ik}}{\\sum_j\\beta_{jk}}
        \\ell_{GGD}(R_{ik} - V_i(s_k))}_{\\text{risk-averse GGD NLL}}
        + \\lambda \\underbrace{\\sum_k w_k \\frac1N\\sum_i (R_{ik} - V_i(s_k))^2}_{\\text{BIEV}},

    :math:`w_k` the batch inverse error-variance weights (effective batch size at least
    :math:`\\min(B-1, 16)`) and :math:`\\lambda = 0.1`; the PPO loss is
    ``policy_loss + ent_coef * entropy_loss + vf_coef * L_critic``. The actor uses the advantages
    of the ensemble-mean value, exactly as in PPO. ``error_model="gaussian"`` gives the
    variance-head baseline (Gaussian NLL, with ``uncertainty_weighting="biv"`` the IV-RL critic of
    Mai et al., ICLR 2022).

    This is a stable-baselines3 algorithm, so it follows SB3's conventions rather than
    scikit-learn's: it is built in ``__init__``, trained by ``learn``, saved by ``save`` (SB3 zip
    format) and seeded by ``seed`` (SB3 seeds the global random generators).

    Parameters
    ----------
    policy : str or type, default="MlpPolicy"
        ``"MlpPolicy"`` (:class:`GGDActorCriticPolicy`) or a subclass of it.
    env : gymnasium.Env, VecEnv or str
        The environment.
    learning_rate, n_steps, batch_size, n_epochs, gamma, gae_lambda, clip_range,
    normalize_advantage, ent_coef, vf_coef, max_grad_norm, use_sde, sde_sample_freq, target_kl,
    stats_window_size, tensorboard_log, policy_kwargs, verbose, seed, device
        As in ``stable_baselines3.PPO`` (value clipping, ``clip_range_vf``, is not supported).
    n_critics : int, default=5
        Critic ensemble size :math:`N` (at least 4 for BIEV, 2 for BIV).
    error_model : {"ggd", "gaussian"}, default="ggd"
        TD-error model of the critic members.
    nll_form : {"exact", "authors"}, default="exact"
        GGD NLL: the exact one, or the authors' :math:`\\beta|\\delta|` surrogate
        (see :func:`uqkit.losses.ggd_nll`).
    learn_scale : bool, default=False
        Learn the GGD scale instead of fixing it at 1 (:math:`\\alpha = 1` in the paper).
    uncertainty_weighting : {"biev", "biv"} or None, default="biev"
        Sample weights of the regulariser; ``None`` drops it.
    uncertainty_coef : float, default=0.1
        :math:`\\lambda`.
    min_batch_size : int, default=16
        Effective-batch-size bound of the BIV/BIEV weights.
    regression_loss : {"mse", "mae"}, default="mse"
        Error of the regulariser (the authors' PPO code uses ``"mae"``).
    critic_hidden_layers : sequence of int, default=(64, 64)
        Hidden layers of each critic member.

    Examples
    --------
    >>> import gymnasium as gym
    >>> model = GGDPPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, n_epochs=1,
    ...                seed=0, device="cpu").learn(128)  # doctest: +SKIP
    >>> pred = model.predict_uncertainty(model.env.reset())  # doctest: +SKIP
    >>> pred.distribution  # doctest: +SKIP
    'ggd'
    """

    policy_aliases: ClassVar[dict[str, type]] = {"MlpPolicy": GGDActorCriticPolicy}
    rollout_buffer: EnsembleRolloutBuffer
    policy: GGDActorCriticPolicy

    def __init__(
        self,
        policy: str | type[GGDActorCriticPolicy] = "MlpPolicy",
        env=None,
        learning_rate: float = 3e-4,
        n_steps: int = 2048,
        batch_size: int = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float = 0.2,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        target_kl: float | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
        n_critics: int = 5,
        error_model: ErrorModel = "ggd",
        nll_form: Literal["exact", "authors"] = "exact",
        learn_scale: bool = False,
        uncertainty_weighting: Literal["biev", "biv"] | None = "biev",
        uncertainty_coef: float = 0.1,
        min_batch_size: int = 16,
        regression_loss: Literal["mse", "mae"] = "mse",
        critic_hidden_layers: Sequence[int] = (64, 64),
        _init_setup_model: bool = True,
    ) -> None:
        self._check_critic_options(
            n_critics, error_model, nll_form, uncertainty_weighting, uncertainty_coef,
            min_batch_size, regression_loss,
        )
        self.n_critics = int(n_critics)
        self.error_model = error_model
        self.nll_form = nll_form
        self.learn_scale = bool(learn_scale)
        self.uncertainty_weighting = uncertainty_weighting
        self.uncertainty_coef = float(uncertainty_coef)
        self.min_batch_size = int(min_batch_size)
        self.regression_loss = regression_loss
        self.critic_hidden_layers = check_positive_ints(
            critic_hidden_layers, "critic_hidden_layers"
        )
        critic_kwargs = {
            "n_critics": self.n_critics,
            "error_model": error_model,
            "learn_scale": self.learn_scale,
            "critic_hidden_layers": self.critic_hidden_layers,
        }
        policy_kwargs = dict(policy_kwargs or {})
        clashes = sorted(set(policy_kwargs) & set(critic_kwargs))
        if clashes:
            raise InvalidInputError(
                f"pass {clashes} as GGDPPO arguments, not inside policy_kwargs."
            )
        policy_kwargs.update(critic_kwargs)
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            batch_size=batch_size,
            n_epochs=n_epochs,
            gamma=gamma,
            gae_lambda=gae_lambda,
            clip_range=clip_range,
            clip_range_vf=None,
            normalize_advantage=normalize_advantage,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            rollout_buffer_class=EnsembleRolloutBuffer,
            rollout_buffer_kwargs={"n_members": self.n_critics},
            target_kl=target_kl,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            # stable-baselines3 falls back to the CPU without a word when CUDA is missing;
            # uqkit refuses, as its estimators do
            device=resolve_device(device),
            _init_setup_model=_init_setup_model,
        )

    @staticmethod
    def _check_critic_options(
        n_critics, error_model, nll_form, weighting, coef, min_batch_size, regression_loss
    ) -> None:
        if error_model not in ("ggd", "gaussian"):
            raise InvalidInputError(
                f"error_model must be 'ggd' or 'gaussian'; got {error_model!r}."
            )
        if nll_form not in ("exact", "authors"):
            raise InvalidInputError(f"nll_form must be 'exact' or 'authors'; got {nll_form!r}.")
        if weighting not in ("biev", "biv", None):
            raise InvalidInputError(
                f"uncertainty_weighting must be 'biev', 'biv' or None; got {weighting!r}."
            )
        if regression_loss not in ("mse", "mae"):
            raise InvalidInputError(
                f"regression_loss must be 'mse' or 'mae'; got {regression_loss!r}."
            )
        needed = {"biev": 4, "biv": 2, None: 1}[weighting]
        if int(n_critics) < needed:
            raise InvalidInputError(
                f"uncertainty_weighting={weighting!r} needs n_critics >= {needed}; got "
                f"{n_critics}. Use more critics or another weighting."
            )
        if not float(coef) >= 0:
            raise InvalidInputError(f"uncertainty_coef must be >= 0; got {coef}.")
        if int(min_batch_size) < 1:
            raise InvalidInputError(f"min_batch_size must be >= 1; got {min_batch_size}.")

    def _setup_model(self) -> None:
        if isinstance(self.observation_space, _spaces.Dict):
            raise InvalidInputError(
                "GGDPPO supports Box, Discrete, MultiDiscrete and MultiBinary observations, not "
                "Dict observations; flatten them with gymnasium.wrappers.FlattenObservation."
            )
        super()._setup_model()
        if not isinstance(self.policy, GGDActorCriticPolicy):
            raise InvalidInputError(
                "GGDPPO needs a GGDActorCriticPolicy (policy='MlpPolicy'); got "
                f"{type(self.policy).__name__}."
            )

    # ------------------------------------------------------------------ rollouts
    def collect_rollouts(self, env, callback, rollout_buffer, n_rollout_steps: int) -> bool:
        """SB3's rollout collection, then every critic member's own λ-returns."""
        if not super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps):
            return False
        n_steps, n_envs = rollout_buffer.buffer_size, rollout_buffer.n_envs
        observations = rollout_buffer.observations.reshape(
            n_steps * n_envs, *rollout_buffer.obs_shape
        )
        member_values = self.policy.member_values(observations)
        last_values = self.policy.member_values(
            np.asarray(self._last_obs).reshape(n_envs, *rollout_buffer.obs_shape)
        )
        rollout_buffer.compute_member_returns(
            member_values.reshape(n_steps, n_envs, self.n_critics),
            last_values,
            dones=np.asarray(self._last_episode_starts),
        )
        return True

    # ------------------------------------------------------------------ training
    def critic_loss(self, critic, member_returns: torch.Tensor) -> CriticLoss:
        """The critic objective for one minibatch.

        Parameters
        ----------
        critic : GGDHeadOutput or GaussianHeadOutput
            Per-member outputs, ``(n_critics, batch)``.
        member_returns : torch.Tensor of shape (n_critics, batch)
            Each member's λ-return.

        Returns
        -------
        CriticLoss
        """
        options = {
            "weighting": self.uncertainty_weighting,
            "coef": self.uncertainty_coef,
            "min_batch_size": self.min_batch_size,
            "regression_loss": self.regression_loss,
            "gamma": self.gamma,
        }
        if self.error_model == "ggd":
            return ggd_critic_loss(
                critic.values, member_returns, critic.shape, critic.scale,
                form=self.nll_form, **options,
            )
        return gaussian_critic_loss(critic.values, member_returns, critic.variance, **options)

    def train(self) -> None:
        """One PPO update on the rollout buffer with the ensemble critic loss."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)

        logs: dict[str, list[float]] = {
            key: []
            for key in (
                "entropy_loss", "policy_gradient_loss", "value_loss", "critic_nll",
                "critic_regularizer", "clip_fraction", "effective_batch_size", "spread",
            )
        }
        approx_kl_divs: list[float] = []
        continue_training = True
        for epoch in range(self.n_epochs):
            approx_kl_divs = []
            for rollout_data in self.rollout_buffer.get(self.batch_size):
                actions = rollout_data.actions
                if isinstance(self.action_space, _spaces.Discrete):
                    actions = rollout_data.actions.long().flatten()
                log_prob, entropy, critic = self.policy.evaluate_actions_members(
                    rollout_data.observations, actions
                )
                advantages = rollout_data.advantages
                if self.normalize_advantage and len(advantages) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                ratio = torch.exp(log_prob - rollout_data.old_log_prob)
                policy_loss = -torch.min(
                    advantages * ratio,
                    advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range),
                ).mean()
                entropy_loss = -torch.mean(-log_prob if entropy is None else entropy)
                terms = self.critic_loss(critic, rollout_data.member_returns.T)
                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * terms.total
                if not torch.isfinite(loss):
                    raise DivergenceError(
                        f"GGDPPO: the loss became non-finite at update {self._n_updates}, epoch "
                        f"{epoch} (critic loss {float(terms.total):.4g}). Lower learning_rate or "
                        "vf_coef, normalise rewards, or use nll_form='authors'."
                    )

                with torch.no_grad():
                    log_ratio = log_prob - rollout_data.old_log_prob
                    approx_kl_div = torch.mean((torch.exp(log_ratio) - 1) - log_ratio).item()
                approx_kl_divs.append(approx_kl_div)
                logs["policy_gradient_loss"].append(policy_loss.item())
                logs["entropy_loss"].append(entropy_loss.item())
                logs["value_loss"].append(terms.total.item())
                logs["critic_nll"].append(terms.likelihood.item())
                logs["critic_regularizer"].append(terms.regularizer.item())
                logs["clip_fraction"].append(
                    torch.mean((torch.abs(ratio - 1) > clip_range).float()).item()
                )
                if terms.sample_weights is not None:
                    weights = terms.sample_weights
                    logs["effective_batch_size"].append(float(1.0 / weights.square().sum()))
                spread = critic.shape if self.error_model == "ggd" else critic.variance
                logs["spread"].append(spread.detach().mean().item())

                if self.target_kl is not None and approx_kl_div > 1.5 * self.target_kl:
                    continue_training = False
                    log_verbose(_logger, self.verbose, f"Early stopping at step {epoch} due to "
                                f"reaching max kl: {approx_kl_div:.2f}")
                    break

                self.policy.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
            self._n_updates += 1
            if not continue_training:
                break

        explained_var = _sb3_utils.explained_variance(
            self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten()
        )
        spread_name = "mean_shape" if self.error_model == "ggd" else "mean_variance"
        for key, values in logs.items():
            if values:
                name = spread_name if key == "spread" else key
                self.logger.record(f"train/{name}", float(np.mean(values)))
        if approx_kl_divs:
            self.logger.record("train/approx_kl", float(np.mean(approx_kl_divs)))
        self.logger.record("train/explained_variance", explained_var)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", torch.exp(self.policy.log_std).mean().item())

    # ------------------------------------------------------------------ uncertainty
    def predict_uncertainty(self, observations) -> RegressionPrediction:
        """The critic's value distribution for observations (see
        :meth:`GGDActorCriticPolicy.predict_uncertainty`).

        Parameters
        ----------
        observations : ndarray of shape (n, *obs_shape) or (*obs_shape,)

        Returns
        -------
        RegressionPrediction
            ``"ggd"`` for the GGD critic, ``"mixture"`` for the Gaussian one; ``epistemic`` is
            the variance of the members' values.
        """
        return self.policy.predict_uncertainty(observations)
