"""GloVe's weighting function, shared by the trainer and by the GloVe-V covariances.

Pennington, Socher & Manning (EMNLP 2014, Eq. 9) weight the squared error of each co-occurrence
count :math:`x` by :math:`f(x) = \\min\\{(x/x_{\\max})^{a}, 1\\}` (the paper's exponent
:math:`\\alpha`, here ``weight_exponent``: in uqkit ``alpha`` is only ever a miscoverage level).
GloVe-V (Vallebueno et al., EMNLP 2024, Sec. 3) reads the same :math:`f` as an inverse variance.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["glove_weight"]


def glove_weight(x, x_max: float = 100.0, weight_exponent: float = 0.75):
    """GloVe's weighting function :math:`f(x) = \\min\\{(x/x_{\\max})^{a}, 1\\}` (Eq. 9).

    Parameters
    ----------
    x : ndarray or torch.Tensor
        Positive co-occurrence counts.
    x_max : float, default=100
        Count from which every entry gets weight 1.
    weight_exponent : float, default=0.75
        Exponent :math:`a` below ``x_max`` (the paper's :math:`\\alpha = 3/4`).

    Returns
    -------
    ndarray or torch.Tensor
        The weights, same type and shape as ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> glove_weight(np.array([1.0, 100.0, 1000.0])).round(4)
    array([0.0316, 1.    , 1.    ])
    """
    if isinstance(x, torch.Tensor):
        return torch.clamp((x / x_max) ** weight_exponent, max=1.0)
    return np.minimum((np.asarray(x, dtype=np.float64) / x_max) ** weight_exponent, 1.0)
