"""A small convolutional network for images given as flattened pixel rows."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from uqkit.nn import ACTIVATIONS

__all__ = ["ImageCNN"]


class _Activation(nn.Module):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ACTIVATIONS[self.name](x)


class ImageCNN(nn.Module):
    """LeNet-style network on flattened images: ``(batch, C*H*W)`` → ``(batch, out_features)``.

    Two blocks of 5×5 convolution (no padding), activation and 2×2 max-pooling, then a fully
    connected part with ``hidden_layers``. It is the shape of the LeNet used for MNIST by Sensoy
    et al. (NeurIPS 2018), narrower by default so that it trains on a CPU.

    Parameters
    ----------
    in_features : int
        ``C * H * W``; must match ``image_shape``.
    out_features : int
        Raw outputs (logits for a classifier, ``4 * n_targets`` for a NIG head).
    image_shape : tuple of int, default=(1, 28, 28)
        ``(channels, height, width)``; height and width must be at least 16.
    channels : tuple of two ints, default=(8, 16)
        Filters of the two convolutions (LeNet: ``(20, 50)``).
    hidden_layers : tuple of int, default=(64,)
        Widths of the fully connected layers after the convolutions (LeNet: ``(500,)``).
    activation : str, default="relu"
        Name in :data:`uqkit.nn.ACTIVATIONS`.

    Examples
    --------
    >>> net = ImageCNN(784, 10)
    >>> net(torch.zeros(2, 784)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        image_shape: Sequence[int] = (1, 28, 28),
        channels: Sequence[int] = (8, 16),
        hidden_layers: Sequence[int] = (64,),
        activation: str = "relu",
    ) -> None:
        super().__init__()
        image_shape = tuple(int(v) for v in image_shape)
        if len(image_shape) != 3 or any(v <= 0 for v in image_shape):
            raise ValueError(f"image_shape must be (channels, height, width); got {image_shape}.")
        c, h, w = image_shape
        if c * h * w != in_features:
            raise ValueError(
                f"image_shape {image_shape} has {c * h * w} pixels but the input has "
                f"{in_features} features; pass the flattened images and their shape."
            )
        if min(h, w) < 16:
            raise ValueError(f"ImageCNN needs images of at least 16x16 pixels; got {h}x{w}.")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}."
            )
        c1, c2 = (int(v) for v in channels)
        self.image_shape = image_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, c1, kernel_size=5),
            _Activation(activation),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=5),
            _Activation(activation),
            nn.MaxPool2d(2),
        )
        side_h, side_w = ((h - 4) // 2 - 4) // 2, ((w - 4) // 2 - 4) // 2
        widths = [c2 * side_h * side_w, *(int(v) for v in hidden_layers)]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(widths):
            layers += [nn.Linear(a, b), _Activation(activation)]
        layers.append(nn.Linear(widths[-1], out_features))
        self.head = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.image_shape)
        return self.head(self.features(x).flatten(1))
