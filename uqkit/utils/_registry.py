"""The estimator registry: every public, concrete uqkit estimator, found by walking the package.

Like scikit-learn's ``sklearn.utils.all_estimators``, nothing is listed by hand: a new estimator
joins the registry (and with it the common tests) by existing. The walk imports every module of
``uqkit``; a module whose optional dependency is not installed (ray, transformers, peft,
stable-baselines3, ...) is skipped, while a module that fails for any other reason raises, so a
broken import is never hidden.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap
from collections.abc import Iterable

import uqkit
from uqkit.base import UQClassifierMixin, UQEstimator, UQRegressorMixin
from uqkit.exceptions import InvalidInputError, MissingDependencyError

__all__ = ["all_estimators"]

TYPE_FILTERS = ("classifier", "recalibrator", "regressor")


def _missing_optional_dependency(err: ImportError) -> bool:
    """Whether ``err`` says that a third-party package is not installed (not a uqkit bug)."""
    if isinstance(err, MissingDependencyError):
        return True
    name = getattr(err, "name", None) or ""
    return isinstance(err, ModuleNotFoundError) and name.split(".")[0] not in ("", "uqkit")


def _uqkit_modules() -> Iterable[object]:
    """Import and yield every module of ``uqkit`` whose dependencies are installed."""

    def on_error(name: str) -> None:
        # walk_packages calls this when importing a subpackage fails; without it the error
        # would be silently swallowed and the whole family would vanish from the registry.
        try:
            importlib.import_module(name)
        except ImportError as err:
            if not _missing_optional_dependency(err):
                raise

    for info in pkgutil.walk_packages(uqkit.__path__, prefix="uqkit.", onerror=on_error):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # running it is its purpose: ``python -m uqkit.cli``
        try:
            yield importlib.import_module(info.name)
        except ImportError as err:
            if not _missing_optional_dependency(err):
                raise


def _raises_only_not_implemented(function) -> bool:
    """Whether ``function``'s body (after its docstring) is just ``raise NotImplementedError``.

    That is the informal spelling of an abstract hook (``StackedEstimator._spec``, the mixins'
    ``predict_uncertainty``); a class that still has one cannot be used as it is.
    """
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return False
    node = ast.parse(source).body[0]
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc
    if isinstance(exc, ast.Call):
        if exc.args or exc.keywords:
            return False  # a message: a real default that refuses, not a hook
        exc = exc.func
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def _is_abstract(cls: type) -> bool:
    """An ``abc`` abstract class, a ``Base*`` class, a class without ``fit``, or one that still
    has a hook whose body is only ``raise NotImplementedError``."""
    if inspect.isabstract(cls) or cls.__name__.startswith("Base") or not hasattr(cls, "fit"):
        return True
    for name in dir(cls):
        attribute = inspect.getattr_static(cls, name, None)
        if isinstance(attribute, staticmethod | classmethod):
            attribute = attribute.__func__
        if not inspect.isfunction(attribute):
            continue
        # hooks are written in uqkit (or next to the class), not in scikit-learn or torch
        module = attribute.__module__ or ""
        if (module.startswith("uqkit.") or module == cls.__module__) and (
            _raises_only_not_implemented(attribute)
        ):
            return True
    return False


def _is_recalibrator(cls: type) -> bool:
    # A recalibrator maps a fitted model's prediction to a calibrated one: it has `calibrate`.
    return callable(getattr(cls, "calibrate", None))


def _matches(cls: type, kind: str) -> bool:
    if kind == "regressor":
        return issubclass(cls, UQRegressorMixin)
    if kind == "classifier":
        return issubclass(cls, UQClassifierMixin)
    return _is_recalibrator(cls)


def all_estimators(type_filter: str | list[str] | None = None) -> list[tuple[str, type]]:
    """Every public, concrete uqkit estimator, as sorted ``(name, class)`` pairs.

    The package is walked and each module imported (modules whose optional dependency is missing
    are skipped); every public subclass of :class:`uqkit.base.UQEstimator` that is not abstract
    is listed once. A class is abstract when it is an ``abc`` abstract class, its name starts
    with ``Base``, it has no ``fit``, or one of its methods is only ``raise NotImplementedError``
    (a hook its subclasses fill in, as in :class:`uqkit.training.StackedEstimator`).

    Parameters
    ----------
    type_filter : {"regressor", "classifier", "recalibrator"} or list of them, default=None
        Keep only estimators of these kinds (an estimator may be of several kinds: a
        recalibrator of a regressor is also a regressor). ``"regressor"`` and ``"classifier"``
        are the subclasses of :class:`uqkit.base.UQRegressorMixin` and
        :class:`uqkit.base.UQClassifierMixin`; ``"recalibrator"`` the estimators that wrap a
        fitted model and recalibrate its predictions (they have a ``calibrate`` method).
        ``None`` keeps every estimator, including those of neither kind (``GloVeV``).

    Returns
    -------
    list of (str, type)
        ``(class name, class)`` pairs sorted by name (then module).

    Raises
    ------
    InvalidInputError
        If ``type_filter`` names an unknown kind.

    Examples
    --------
    >>> from uqkit.utils import all_estimators
    >>> names = [name for name, _ in all_estimators()]
    >>> "DeepEnsembleRegressor" in names, "StackedEstimator" in names
    (True, False)
    >>> classifiers = dict(all_estimators(type_filter="classifier"))
    >>> "DeepEnsembleClassifier" in classifiers, "DeepEnsembleRegressor" in classifiers
    (True, False)
    >>> recalibrators = dict(all_estimators(type_filter="recalibrator"))
    >>> "ConformalRegressor" in recalibrators, "GPRegressor" in recalibrators
    (True, False)
    """
    if type_filter is None:
        kinds: list[str] = []
    else:
        kinds = [type_filter] if isinstance(type_filter, str) else list(type_filter)
        unknown = sorted(set(kinds) - set(TYPE_FILTERS))
        if unknown:
            raise InvalidInputError(
                f"type_filter must be None or any of {list(TYPE_FILTERS)}; got {unknown}."
            )
    found: dict[type, None] = {}
    for module in _uqkit_modules():
        # vars(), not getattr: a package face's lazy __getattr__ would import optional extras
        for name, cls in list(vars(module).items()):
            if (
                inspect.isclass(cls)
                and not name.startswith("_")
                and issubclass(cls, UQEstimator)
                and cls is not UQEstimator
                and cls.__module__.startswith("uqkit.")
                and not _is_abstract(cls)
            ):
                found[cls] = None
    estimators = [
        (cls.__name__, cls)
        for cls in found
        if not kinds or any(_matches(cls, kind) for kind in kinds)
    ]
    return sorted(estimators, key=lambda pair: (pair[0], pair[1].__module__))
