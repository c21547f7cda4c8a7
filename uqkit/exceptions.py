"""Exceptions and warnings raised by uqkit.

Every error that uqkit raises on purpose derives from :class:`UQKitError`, and also from the
builtin class a Python or scikit-learn user would catch (``ValueError``, ``ImportError``, ...),
so that ``except ValueError`` keeps working.

Examples
--------
>>> from uqkit.exceptions import InvalidInputError
>>> issubclass(InvalidInputError, ValueError)
True
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = [
    "ConvergenceWarning",
    "DivergenceError",
    "InvalidInputError",
    "MemberTrainingError",
    "MissingDependencyError",
    "ModelFileError",
    "NotFittedError",
    "UQKitError",
    "UQKitWarning",
    "require",
]


class UQKitError(Exception):
    """Base class of every error raised by uqkit."""


class InvalidInputError(UQKitError, ValueError):
    """Input data that cannot be used: NaN/inf, wrong shape, too few samples, one class, ..."""


class NotFittedError(UQKitError, _SklearnNotFittedError):
    """An estimator was used before ``fit``; also a scikit-learn ``NotFittedError``."""


class MemberTrainingError(UQKitError, RuntimeError):
    """A Ray member failed on every attempt; the message names it and every attempt's cause.

    Attributes
    ----------
    members : list of int
        Global indices of the members of the failed task.
    seeds : list of int
        Their seeds.
    causes : list of str
        One line per attempt.
    finished : list of int
        Members that did finish (checkpointed when ``checkpoint_dir`` was given).
    """

    def __init__(self, message: str, *, members, seeds, causes, finished) -> None:
        super().__init__(message)
        self.members = list(members)
        self.seeds = list(seeds)
        self.causes = list(causes)
        self.finished = list(finished)


class DivergenceError(UQKitError, RuntimeError):
    """Training produced a non-finite loss; the message names the member and the epoch."""


class ModelFileError(UQKitError, ValueError):
    """A saved model file is missing, corrupt, tampered with or of an unknown kind."""


class MissingDependencyError(UQKitError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class UQKitWarning(UserWarning):
    """Base class of the warnings uqkit emits."""


class ConvergenceWarning(UQKitWarning):
    """An optimisation stopped before it converged."""


def require(module: str, extra: str):
    """Import an optional dependency or fail with the ``pip install`` line that provides it.

    Parameters
    ----------
    module : str
        Importable module name, e.g. ``"ray"``.
    extra : str
        The uqkit extra that installs it, e.g. ``"search"``.

    Returns
    -------
    module
        The imported module.

    Examples
    --------
    >>> np = require("numpy", "core")
    >>> np.__name__
    'numpy'
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{module!r} is required for this feature but is not installed. "
            f"Install it with: pip install 'uqkit[{extra}]'"
        ) from err
