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

from typing import TYPE_CHECKING

__all__ = [
    "ConvergenceWarning",
    "DataLoaderSettingsWarning",
    "DivergenceError",
    "InvalidInputError",
    "MemberTrainingError",
    "MissingDependencyError",
    "ModelFileError",
    "NotFittedError",
    "UQKitError",
    "UQKitWarning",
    "UnstackableModuleWarning",
    "require",
]


class UQKitError(Exception):
    """Base class of every error raised by uqkit.

    Examples
    --------
    >>> from uqkit.exceptions import InvalidInputError, UQKitError
    >>> try:
    ...     raise InvalidInputError("X contains NaN")
    ... except UQKitError as err:
    ...     print(type(err).__name__, err)
    InvalidInputError X contains NaN
    """


class InvalidInputError(UQKitError, ValueError):
    """Input data that cannot be used: NaN/inf, wrong shape, too few samples, one class, ...

    Examples
    --------
    >>> from uqkit.exceptions import InvalidInputError
    >>> try:
    ...     raise InvalidInputError("X has 1 sample; fit needs at least 2")
    ... except ValueError as err:
    ...     print(err)
    X has 1 sample; fit needs at least 2
    """


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

    Examples
    --------
    >>> from uqkit.exceptions import MemberTrainingError
    >>> err = MemberTrainingError(
    ...     "member 2 failed twice", members=[2], seeds=[7], causes=["OOM", "OOM"], finished=[0, 1]
    ... )
    >>> isinstance(err, RuntimeError), err.members, err.finished
    (True, [2], [0, 1])
    """

    def __init__(self, message: str, *, members, seeds, causes, finished) -> None:
        super().__init__(message)
        self.members = list(members)
        self.seeds = list(seeds)
        self.causes = list(causes)
        self.finished = list(finished)


class DivergenceError(UQKitError, RuntimeError):
    """Training produced a non-finite loss; the message names the member and the epoch.

    Examples
    --------
    >>> from uqkit.exceptions import DivergenceError
    >>> try:
    ...     raise DivergenceError("member 3 diverged at epoch 12: lower the learning rate")
    ... except RuntimeError as err:
    ...     print(err)
    member 3 diverged at epoch 12: lower the learning rate
    """


class ModelFileError(UQKitError, ValueError):
    """A saved model file is missing, corrupt, tampered with or of an unknown kind.

    Examples
    --------
    >>> from uqkit.exceptions import ModelFileError
    >>> try:
    ...     raise ModelFileError("model.safetensors: checksum mismatch")
    ... except ValueError as err:
    ...     print(isinstance(err, ModelFileError))
    True
    """


class MissingDependencyError(UQKitError, ImportError):
    """An optional dependency is not installed; the message names the extra to install.

    Examples
    --------
    >>> from uqkit.exceptions import MissingDependencyError, require
    >>> try:
    ...     require("a_module_that_does_not_exist", "search")
    ... except ImportError as err:
    ...     print(isinstance(err, MissingDependencyError), "uqkit[search]" in str(err))
    True True
    """


class UQKitWarning(UserWarning):
    """Base class of the warnings uqkit emits.

    Examples
    --------
    >>> import warnings
    >>> from uqkit.exceptions import ConvergenceWarning, UQKitWarning
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn("stopped early", ConvergenceWarning)
    >>> issubclass(caught[0].category, UQKitWarning)
    True
    """


class ConvergenceWarning(UQKitWarning):
    """An optimisation stopped before it converged.

    Examples
    --------
    >>> import warnings
    >>> from uqkit.exceptions import ConvergenceWarning
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", ConvergenceWarning)
    ...     try:
    ...         warnings.warn("L-BFGS stopped after 50 iterations", ConvergenceWarning)
    ...     except ConvergenceWarning as w:
    ...         print(w, isinstance(w, UserWarning))
    L-BFGS stopped after 50 iterations True
    """


class DataLoaderSettingsWarning(UQKitWarning):
    """A ``DataLoader`` passed to ``fit`` or ``predict`` has a setting uqkit does not use: a
    sampler other than sequential (``shuffle=True``) or a custom ``collate_fn``.

    uqkit reads the loader's ``dataset`` by index: every member draws its own batch order from
    its own seed (so a fit from the loader equals a fit from the arrays), and prediction
    returns the rows in the dataset's order.

    Examples
    --------
    >>> from uqkit.exceptions import DataLoaderSettingsWarning, UQKitWarning
    >>> issubclass(DataLoaderSettingsWarning, UQKitWarning)
    True
    """


class UnstackableModuleWarning(UQKitWarning):
    """A user module that ``torch.func.vmap`` cannot stack (data-dependent control flow,
    ``.item()``, ...): its members run one after another, with the same results, more slowly.
    The message quotes vmap's reason.

    Examples
    --------
    >>> from uqkit.exceptions import UnstackableModuleWarning, UQKitWarning
    >>> issubclass(UnstackableModuleWarning, UQKitWarning)
    True
    """


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


_NOT_FITTED_DOC = """An estimator was used before ``fit``; also a scikit-learn ``NotFittedError``.

    Examples
    --------
    >>> import sklearn.exceptions
    >>> from uqkit.exceptions import NotFittedError
    >>> issubclass(NotFittedError, sklearn.exceptions.NotFittedError)
    True
    >>> issubclass(NotFittedError, (ValueError, AttributeError))
    True
    """

if TYPE_CHECKING:
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

    class NotFittedError(UQKitError, _SklearnNotFittedError):
        """An estimator was used before ``fit``; also a scikit-learn ``NotFittedError``."""


def __getattr__(name: str):
    # NotFittedError subclasses scikit-learn's, and scikit-learn takes seconds to import: a Ray
    # worker that trains search trials imports this module but never needs the class, so it is
    # defined on first use. setdefault: threads that race here still share one class.
    if name == "NotFittedError":
        return globals().setdefault(name, _define_not_fitted_error())
    raise AttributeError(f"module 'uqkit.exceptions' has no attribute {name!r}")


def _define_not_fitted_error() -> type:
    from sklearn.exceptions import NotFittedError as sklearn_not_fitted

    class NotFittedError(UQKitError, sklearn_not_fitted):
        __doc__ = _NOT_FITTED_DOC

    NotFittedError.__qualname__ = "NotFittedError"
    return NotFittedError


def __dir__() -> list[str]:
    return sorted([*globals(), "NotFittedError"])


# the class is defined on first use, so doctest finds its examples here
__test__ = {"NotFittedError": _NOT_FITTED_DOC}
