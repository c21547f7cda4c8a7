"""Which space a ``space`` dict describes: uqkit's :class:`~uqkit.search.SearchSpace`, or the
DeepHyper preset :class:`~uqkit.search.DeepHyperSpace` when it says ``kind: deephyper``.

Every place that rebuilds a space from its JSON/YAML description (a trial, the driver, random
search, the command line, the estimators) goes through :func:`space_from_dict`, so both spaces
run through the same search, resume and catalog code (Egele et al., 2022, Sec. 3.1: a joint
architecture and hyperparameter space, whichever one is searched).
"""

from __future__ import annotations

from uqkit.search._deephyper import DeepHyperSpace
from uqkit.search._space import SearchSpace

__all__ = ["space_from_dict"]


def space_from_dict(data: dict | None) -> SearchSpace | DeepHyperSpace:
    """The space a ``to_dict()`` description (or a YAML ``space:`` section) describes.

    Parameters
    ----------
    data : dict or None
        :meth:`SearchSpace.to_dict` / :meth:`DeepHyperSpace.to_dict` output; ``None`` or
        ``{}`` is uqkit's default space. ``kind: deephyper`` selects the DeepHyper preset.

    Returns
    -------
    SearchSpace or DeepHyperSpace

    Examples
    --------
    >>> type(space_from_dict({"max_layers": 2})).__name__
    'SearchSpace'
    >>> space_from_dict({"kind": "deephyper", "num_nodes": 4}).num_nodes
    4
    """
    data = dict(data or {})
    if data.get("kind") == DeepHyperSpace.kind:
        return DeepHyperSpace.from_dict(data)
    return SearchSpace.from_dict(data)
