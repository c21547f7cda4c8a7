"""Ready networks for DCA: an MLP for tabular data and a small CNN for flattened images.

Both are built as named blocks, so that ``components="block"`` finds meaningful stages:
``block0, block1, ..., head`` for the MLP and ``stage0, stage1, ..., head`` for the CNN.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from numbers import Integral

from torch import nn

from uqkit._data import check_positive_ints
from uqkit.exceptions import InvalidInputError

__all__ = ["ACTIVATION_MODULES", "cnn_preset", "mlp_preset"]

ACTIVATION_MODULES: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATION_MODULES:
        raise InvalidInputError(
            f"activation must be one of {sorted(ACTIVATION_MODULES)}; got {name!r}."
        )
    return ACTIVATION_MODULES[name]()


def _widths(values: Sequence[int], name: str) -> tuple[int, ...]:
    widths = tuple(values)
    if not all(isinstance(w, Integral) and not isinstance(w, bool) and w > 0 for w in widths):
        raise InvalidInputError(f"{name} must be a tuple of positive ints; got {values!r}.")
    return tuple(int(w) for w in widths)


def mlp_preset(
    in_features: int,
    out_features: int,
    hidden_layers: Sequence[int] = (100,),
    activation: str = "relu",
) -> nn.Sequential:
    """Multilayer perceptron ``block0 → block1 → … → head``; each block is Linear + activation.

    Parameters
    ----------
    in_features, out_features : int
    hidden_layers : tuple of int, default=(100,)
    activation : str, default="relu"
        One of :data:`ACTIVATION_MODULES`.

    Examples
    --------
    >>> net = mlp_preset(4, 3, hidden_layers=(8, 8))
    >>> [name for name, _ in net.named_children()]
    ['block0', 'block1', 'head']
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    width = in_features
    for i, hidden in enumerate(check_positive_ints(hidden_layers, "hidden_layers")):
        layers[f"block{i}"] = nn.Sequential(nn.Linear(width, hidden), _activation(activation))
        width = hidden
    layers["head"] = nn.Linear(width, out_features)
    return nn.Sequential(layers)


def cnn_preset(
    in_features: int,
    out_features: int,
    image_shape: Sequence[int] = (1, 28, 28),
    channels: Sequence[int] = (16, 32),
    hidden_layers: Sequence[int] = (128,),
    activation: str = "relu",
) -> nn.Sequential:
    """Small CNN on flattened images: reshape, conv stages, dense head.

    ``unflatten`` reshapes ``(b, C*H*W)`` to ``(b, C, H, W)``; each ``stage<i>`` is a 3×3
    convolution (padding 1), the activation and 2×2 max-pooling; ``head`` flattens and applies
    the dense layers.

    Parameters
    ----------
    in_features : int
        Must equal ``prod(image_shape)`` (784 for MNIST).
    out_features : int
    image_shape : tuple of int, default=(1, 28, 28)
        ``(channels, height, width)``.
    channels : tuple of int, default=(16, 32)
        Output channels of the convolution stages.
    hidden_layers : tuple of int, default=(128,)
        Hidden widths of the dense head.
    activation : str, default="relu"

    Examples
    --------
    >>> import torch
    >>> net = cnn_preset(784, 10)
    >>> net(torch.zeros(2, 784)).shape
    torch.Size([2, 10])
    >>> [name for name, _ in net.named_children()]
    ['unflatten', 'stage0', 'stage1', 'head']
    """
    shape = _widths(image_shape, "image_shape")
    if len(shape) != 3:
        raise InvalidInputError(
            f"image_shape must be (channels, height, width); got {image_shape!r}."
        )
    if math.prod(shape) != in_features:
        raise InvalidInputError(
            f"The CNN preset reshapes each row into image_shape={shape} ({math.prod(shape)} "
            f"values) but X has {in_features} features; pass flattened images and the matching "
            "image_shape."
        )
    layers: OrderedDict[str, nn.Module] = OrderedDict(unflatten=nn.Unflatten(1, shape))
    c, h, w = shape
    for i, out_channels in enumerate(_widths(channels, "channels")):
        layers[f"stage{i}"] = nn.Sequential(
            nn.Conv2d(c, out_channels, 3, padding=1), _activation(activation), nn.MaxPool2d(2)
        )
        c, h, w = out_channels, h // 2, w // 2
    if h < 1 or w < 1:
        raise InvalidInputError(f"{len(channels)} pooling stages are too many for {shape}.")
    head: list[nn.Module] = [nn.Flatten()]
    width = c * h * w
    for hidden in check_positive_ints(hidden_layers, "hidden_layers"):
        head += [nn.Linear(width, hidden), _activation(activation)]
        width = hidden
    head.append(nn.Linear(width, out_features))
    layers["head"] = nn.Sequential(*head)
    return nn.Sequential(layers)
