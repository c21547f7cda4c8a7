"""A stable-baselines3 actor-critic policy whose value function is an uncertainty-aware ensemble.

The value layer of SB3's ``ActorCriticPolicy`` is replaced by a :class:`~uqkit.nn.GGDValueHead`
(or, with ``error_model="gaussian"``, a :class:`~uqkit.nn.GaussianValueHead`). By default the
critic part of the MLP extractor is empty (``net_arch=dict(pi=[64, 64], vf=[])``), so each of the
``n_critics`` members is a full, independent value network on the observation features; layers
given in ``net_arch["vf"]`` become a trunk shared by all members.

Requires stable-baselines3 (``pip install 'uqkit[rl]'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from uqkit.exceptions import InvalidInputError, require
from uqkit.nn import GaussianHeadOutput, GaussianValueHead, GGDHeadOutput, GGDValueHead
from uqkit.prediction import RegressionPrediction

_policies = require("stable_baselines3.common.policies", "rl")
_torch_layers = require("stable_baselines3.common.torch_layers", "rl")

__all__ = ["GGDActorCriticPolicy"]

ErrorModel = Literal["ggd", "gaussian"]
_HEAD_ACTIVATIONS = {nn.Tanh: "tanh", nn.ReLU: "relu", nn.SiLU: "silu"}


class GGDActorCriticPolicy(_policies.ActorCriticPolicy):
    """SB3 ``ActorCriticPolicy`` with an ensemble GGD (or Gaussian) value head.

    Parameters
    ----------
    observation_space, action_space, lr_schedule
        As in ``stable_baselines3.common.policies.ActorCriticPolicy``.
    net_arch : list of int or dict, optional
        Actor / shared-critic layers; default ``dict(pi=[64, 64], vf=[])``.
    activation_fn : type of nn.Module, default=nn.Tanh
        Activation of the actor and of the critic members (Tanh, ReLU or SiLU for the members).
    ortho_init, use_sde, log_std_init, full_std, use_expln, squash_output,
    features_extractor_class, features_extractor_kwargs, share_features_extractor,
    normalize_images, optimizer_class, optimizer_kwargs
        As in ``ActorCriticPolicy``.
    n_critics : int, default=5
        Number of critic members.
    error_model : {"ggd", "gaussian"}, default="ggd"
        TD-error model of each member: GGD with a β-head, or Gaussian with a variance head.
    learn_scale : bool, default=False
        GGD only: learn the GGD scale (α in Kim et al., 2024) instead of fixing it at 1.
    critic_hidden_layers : sequence of int, default=(64, 64)
        Hidden layers of each critic member.

    Examples
    --------
    >>> import gymnasium as gym
    >>> env = gym.make("CartPole-v1")
    >>> policy = GGDActorCriticPolicy(env.observation_space, env.action_space, lambda _: 3e-4,
    ...                               n_critics=4)
    >>> policy.predict_uncertainty(env.reset(seed=0)[0]).distribution
    'ggd'
    """

    def __init__(
        self,
        observation_space,
        action_space,
        lr_schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.Tanh,
        ortho_init: bool = True,
        use_sde: bool = False,
        log_std_init: float = 0.0,
        full_std: bool = True,
        use_expln: bool = False,
        squash_output: bool = False,
        features_extractor_class=_torch_layers.FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        share_features_extractor: bool = True,
        normalize_images: bool = True,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 5,
        error_model: ErrorModel = "ggd",
        learn_scale: bool = False,
        critic_hidden_layers: Sequence[int] = (64, 64),
    ) -> None:
        if error_model not in ("ggd", "gaussian"):
            raise InvalidInputError(
                f"error_model must be 'ggd' or 'gaussian'; got {error_model!r}."
            )
        if activation_fn not in _HEAD_ACTIVATIONS:
            raise InvalidInputError(
                "activation_fn must be nn.Tanh, nn.ReLU or nn.SiLU for the critic members; "
                f"got {activation_fn!r}."
            )
        self.n_critics = int(n_critics)
        self.error_model = error_model
        self.learn_scale = bool(learn_scale)
        self.critic_hidden_layers = tuple(int(h) for h in critic_hidden_layers)
        if net_arch is None:
            net_arch = {"pi": [64, 64], "vf": []}
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=net_arch,
            activation_fn=activation_fn,
            ortho_init=ortho_init,
            use_sde=use_sde,
            log_std_init=log_std_init,
            full_std=full_std,
            use_expln=use_expln,
            squash_output=squash_output,
            features_extractor_class=features_extractor_class,
            features_extractor_kwargs=features_extractor_kwargs,
            share_features_extractor=share_features_extractor,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )

    def _build(self, lr_schedule) -> None:
        super()._build(lr_schedule)
        in_features = self.mlp_extractor.latent_dim_vf
        activation = _HEAD_ACTIVATIONS[self.activation_fn]
        if self.error_model == "ggd":
            head = GGDValueHead(
                in_features,
                n_members=self.n_critics,
                hidden_layers=self.critic_hidden_layers,
                learn_scale=self.learn_scale,
                activation=activation,
            )
        else:
            head = GaussianValueHead(
                in_features,
                n_members=self.n_critics,
                hidden_layers=self.critic_hidden_layers,
                activation=activation,
            )
        self.value_net = head.to(self.device)
        # The optimizer built by the parent still points at the replaced linear value layer.
        self.optimizer = self.optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            n_critics=self.n_critics,
            error_model=self.error_model,
            learn_scale=self.learn_scale,
            critic_hidden_layers=self.critic_hidden_layers,
        )
        return data

    # ------------------------------------------------------------------ critic access
    def _critic_latent(self, obs) -> torch.Tensor:
        features = super(_policies.ActorCriticPolicy, self).extract_features(
            obs, self.vf_features_extractor
        )
        return self.mlp_extractor.forward_critic(features)

    def critic_members(self, obs) -> GGDHeadOutput | GaussianHeadOutput:
        """Every critic member's outputs for a batch of (tensor) observations.

        Parameters
        ----------
        obs : torch.Tensor
            Observations as SB3 passes them to the policy, shape ``(batch, *obs_shape)``.

        Returns
        -------
        GGDHeadOutput or GaussianHeadOutput
            Tensors of shape ``(n_critics, batch)``.
        """
        return self.value_net.members(self._critic_latent(obs))

    def evaluate_actions_members(self, obs, actions: torch.Tensor):
        """Like ``evaluate_actions`` but with the critic's per-member outputs.

        Returns
        -------
        log_prob : torch.Tensor of shape (batch,)
        entropy : torch.Tensor of shape (batch,) or None
        critic : GGDHeadOutput or GaussianHeadOutput
        """
        features = self.extract_features(obs)
        if self.share_features_extractor:
            latent_pi, latent_vf = self.mlp_extractor(features)
        else:
            pi_features, vf_features = features
            latent_pi = self.mlp_extractor.forward_actor(pi_features)
            latent_vf = self.mlp_extractor.forward_critic(vf_features)
        distribution = self._get_action_dist_from_latent(latent_pi)
        return (
            distribution.log_prob(actions),
            distribution.entropy(),
            self.value_net.members(latent_vf),
        )

    def predict_uncertainty(self, observations) -> RegressionPrediction:
        """The critic's predictive distribution of the value of each observation.

        Parameters
        ----------
        observations : ndarray of shape (n, *obs_shape) or (*obs_shape,)
            Observations in the environment's format (one, or a batch).

        Returns
        -------
        RegressionPrediction
            Distribution ``"ggd"`` (GGD critic) or ``"mixture"`` (Gaussian critic): mean value,
            aleatoric = expected TD-error variance, epistemic = variance of the members' values.

        Raises
        ------
        DivergenceError
            If the critic outputs are not finite.
        """
        obs_tensor, _ = self.obs_to_tensor(observations)
        was_training = self.training
        self.set_training_mode(False)
        try:
            with torch.no_grad():
                output = self.critic_members(obs_tensor)
        finally:
            self.set_training_mode(was_training)
        return output.to_prediction()

    def member_values(self, observations: np.ndarray) -> np.ndarray:
        """Each member's value of a batch of observations, shape ``(n, n_critics)`` (numpy)."""
        obs_tensor = torch.as_tensor(observations, device=self.device)
        with torch.no_grad():
            values = self.critic_members(obs_tensor).values
        return values.T.cpu().numpy()
