"""Losses shared across families (family-specific losses live in their family's folder)."""

from uqkit.losses._gaussian import gaussian_nll

__all__ = ["gaussian_nll"]
