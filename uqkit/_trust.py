"""References to the user's code in a model file: ``module="package.module:QualName"`` and the
``trust=`` rule of :func:`uqkit.load`.

A network family's ``module=`` may be a callable, a class or an importable reference string;
``module_kwargs=`` (JSON values) is passed on, so that a member is built as
``factory(in_features, out_features, **module_kwargs)``. Saving writes the reference
``"package.module:QualName"`` of the class or module-level function (checked to import back to
the same object) and the keyword arguments as JSON; code itself is never written. Loading imports
a reference only when the caller trusts its package (``trust=["package"]``), and only after
checking, before anything is called, that the reference names a class derived from
``torch.nn.Module`` or a plain function defined in that very module (no re-export reaching into
another package); what the factory builds must be a ``torch.nn.Module`` before it is used.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import inspect
import json
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

from torch import nn

from uqkit.exceptions import InvalidInputError, ModelFileError

__all__ = [
    "ModuleFactory",
    "check_trust",
    "load_reference",
    "module_factory",
    "reference_of",
    "trusting",
]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_REFERENCE = re.compile(rf"^{_NAME}(\.{_NAME})*:{_NAME}(\.{_NAME})*$")
_PACKAGE = re.compile(rf"^{_NAME}(\.{_NAME})*$")
# what to do with a factory that has no importable name (said by every refusal to save one)
FIX = (
    "define it at module level in an importable package and pass "
    "module='pkg.mod:Name' with module_kwargs=... (JSON values)"
)
# the packages the running uqkit.load trusts (None outside a load: nothing is trusted)
_TRUST: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "uqkit_trust", default=None
)


def _split(reference: str, error: type[Exception]) -> tuple[str, str]:
    """``"pkg.mod:Qual.Name"`` → ``("pkg.mod", "Qual.Name")``; a malformed one is ``error``."""
    if not isinstance(reference, str) or not _REFERENCE.match(reference):
        raise error(
            f"module={reference!r} is not a reference of the form 'package.module:Name' (a "
            "class or a module-level function, e.g. 'mypackage.models:SmallCNN')."
        )
    module_name, qualname = reference.split(":")
    if any(part.startswith("__") for part in qualname.split(".")):
        raise error(f"module={reference!r} names a dunder attribute, not a class or function.")
    return module_name, qualname


def resolve_reference(reference: str, error: type[Exception] = InvalidInputError) -> Any:
    """Import ``"package.module:QualName"`` and return the object it names.

    Parameters
    ----------
    reference : str
        ``package.module:QualName``; the qualified name may be dotted (``Outer.Inner``).
    error : exception class
        Raised when the reference is malformed, cannot be imported or is not callable
        (:class:`~uqkit.exceptions.InvalidInputError` at fit, ``ModelFileError`` at load).

    Examples
    --------
    >>> resolve_reference("torch.nn:Linear").__name__
    'Linear'
    >>> try:
    ...     resolve_reference("no_such_package.models:Net")
    ... except InvalidInputError as err:
    ...     print(str(err).split(" (")[0])
    module='no_such_package.models:Net' cannot be imported
    """
    module_name, qualname = _split(reference, error)
    try:
        obj = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise error(
            f"module={reference!r} cannot be imported ({err}). Pass 'package.module:Name' of a "
            "class or function that 'import package.module' reaches: is the package "
            "installed, or its folder on sys.path?"
        ) from err
    if not callable(obj):
        raise error(
            f"module={reference!r} names a {type(obj).__name__}, not a class or function "
            "factory(in_features, out_features, **module_kwargs) -> torch.nn.Module."
        )
    return obj


def _why_unsavable(obj) -> str | None:
    """Why ``obj`` has no importable name (``None`` when it has one that imports back to it)."""
    reason = getattr(type(obj), "unsavable_reason", None)
    if isinstance(reason, str):  # e.g. the module copies of from_modules say what they are
        return reason
    if isinstance(obj, functools.partial):
        return "a functools.partial has no importable name"
    if not (isinstance(obj, type) or inspect.isfunction(obj)):
        return (f"it is a {type(obj).__name__} object, not a class or a function, so it has "
                "no importable name")
    qualname, module = obj.__qualname__, obj.__module__
    if obj.__name__ == "<lambda>":
        return "a lambda has no importable name"
    if "<locals>" in qualname:
        return ("it is defined inside a function (a closure or a nested definition), so it "
                "cannot be imported")
    if module in (None, "__main__", "builtins"):
        return (f"it is defined in {module} (a script, a notebook or the interpreter), which "
                "cannot be imported when the file is loaded")
    try:
        found = resolve_reference(f"{module}:{qualname}", ModelFileError)
    except ModelFileError:
        found = None
    if found is not obj:
        return f"importing '{module}:{qualname}' does not give it back"
    return None


def reference_of(module) -> str:
    """The reference ``"package.module:QualName"`` that ``save`` writes for ``module=``.

    A string is resolved and written in the canonical form of what it names (the object's
    ``__module__`` and ``__qualname__``), so that loading can check the reference points at the
    definition itself.

    Raises
    ------
    ModelFileError
        For a lambda, a closure or nested function, a ``functools.partial``, an instance, or an
        object defined in ``__main__``: it says why and what to do.

    Examples
    --------
    >>> from torch import nn
    >>> reference_of(nn.Linear)
    'torch.nn.modules.linear:Linear'
    >>> try:
    ...     reference_of(lambda i, o: nn.Linear(i, o))
    ... except ModelFileError as err:
    ...     print(str(err).split(": ")[1].split(".")[0])
    a lambda has no importable name
    """
    obj = resolve_reference(module, ModelFileError) if isinstance(module, str) else module
    reason = _why_unsavable(obj)
    if reason is not None:
        shown = re.sub(r" at 0x[0-9a-f]+", " ...", repr(module))
        raise ModelFileError(
            f"Cannot save module={shown}: {reason}. A uqkit file holds a reference to the "
            f"code that builds the network, never code; to make the model savable, {FIX}."
        )
    return f"{obj.__module__}:{obj.__qualname__}"


# ---------------------------------------------------------------------------- trust
def check_trust(trust) -> tuple[str, ...]:
    """``trust`` as a tuple of package names (``"pkg"`` or ``"pkg.sub"``); a single string is
    one name.

    Examples
    --------
    >>> check_trust(["mypackage", "other.models"])
    ('mypackage', 'other.models')
    >>> check_trust(None)
    ()
    """
    if trust is None:
        return ()
    names = [trust] if isinstance(trust, str) else trust
    try:
        names = tuple(names)
    except TypeError:
        names = (trust,)
    bad = [n for n in names if not (isinstance(n, str) and _PACKAGE.match(n))]
    if bad:
        raise InvalidInputError(
            f"trust={trust!r}: each entry must be a package name such as 'mypackage' or "
            f"'mypackage.models'; got {bad[0]!r}. Pass e.g. uqkit.load(path, trust=['mypackage'])."
        )
    return names


def _is_trusted(module_name: str, trust: tuple[str, ...]) -> bool:
    """Whether ``module_name`` is one of ``trust`` or inside one of them (by whole components:
    ``"pkg"`` trusts ``pkg.models``, not ``pkgextra``)."""
    return any(module_name == name or module_name.startswith(name + ".") for name in trust)


@contextlib.contextmanager
def trusting(trust: tuple[str, ...]) -> Iterator[None]:
    """Within the block, :func:`load_reference` imports references from ``trust`` (nested
    estimators rebuilt inside the block see the same trust)."""
    token = _TRUST.set(tuple(trust))
    try:
        yield
    finally:
        _TRUST.reset(token)


def load_reference(reference) -> str:
    """Check a reference read from a model file and import it, only if its package is trusted.

    Before anything is imported the reference's module must be inside a package of the running
    ``uqkit.load(..., trust=...)``. After the import and before anything is called, the object
    must be defined where the reference says (its ``__module__`` and ``__qualname__``: no
    re-export reaching into another package) and be a class derived from ``torch.nn.Module``
    or a plain Python function.

    Returns
    -------
    str
        ``reference``, unchanged (the estimator's ``module`` parameter).

    Raises
    ------
    ModelFileError
        If the package is not trusted (the message names the reference and the fix), or the
        reference is malformed, cannot be imported or names something else.
    """
    module_name, qualname = _split(reference, ModelFileError)
    trust = _TRUST.get() or ()
    if not _is_trusted(module_name, trust):
        top = module_name.split(".")[0]
        narrower = "" if top == module_name else f" (or only that module: {[module_name]!r})"
        raise ModelFileError(
            f"This model file builds its networks with module={reference!r}: loading it would "
            f"import and run code from the package {top!r}, which is not trusted. uqkit imports "
            f"code named by a file only from packages you trust: if you trust {top!r}, load it "
            f"with uqkit.load(path, trust=[{top!r}]){narrower} (uqkit report: --trust {top})."
        )
    obj = resolve_reference(reference, ModelFileError)
    if isinstance(obj, type) and not issubclass(obj, nn.Module):
        raise ModelFileError(
            f"module={reference!r} in the model file is a class that is not a torch.nn.Module "
            "subclass; uqkit builds members only from nn.Module classes or factory functions. "
            "The file was edited: use the original file."
        )
    if not isinstance(obj, type) and not inspect.isfunction(obj):
        raise ModelFileError(
            f"module={reference!r} in the model file is a {type(obj).__name__}, not an "
            "nn.Module class or a Python factory function; uqkit does not call it. The file "
            "was edited: use the original file."
        )
    if (getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)) != (
        module_name, qualname
    ):
        raise ModelFileError(
            f"module={reference!r} in the model file names an object defined elsewhere "
            f"({getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', '?')}); uqkit "
            "saves references to definitions, so the file was edited. Use the original file."
        )
    return reference


# ---------------------------------------------------------------------------- the factory
def _check_json(value, path: str, owner: str) -> None:
    """Refuse a ``module_kwargs`` value that JSON does not hold exactly."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if math.isfinite(value):
            return
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]", owner)
        return
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                break
            _check_json(item, f"{path}[{key!r}]", owner)
        else:
            return
    raise InvalidInputError(
        f"{owner}: module_kwargs{path} = {value!r} is not a JSON value; a saved model holds "
        "its module's keyword arguments as JSON. Pass plain numbers, strings, booleans, None "
        "and lists or dicts (with string keys) of them."
    )


class ModuleFactory:
    """``factory(in_features, out_features)`` → one member: the user's ``module=`` with its
    ``module_kwargs``, a string reference resolved; the result is checked to be a module.

    The keyword arguments are passed as JSON gives them back (tuples as lists), so that a
    model behaves the same before and after ``save``/``load``. Picklable when the factory is
    (Ray workers receive it).

    Parameters
    ----------
    module : callable or str
        A class, a function or ``"package.module:QualName"``.
    module_kwargs : dict, optional
        JSON values passed as keyword arguments.
    owner : str
        The estimator's class name, for messages.

    Examples
    --------
    >>> factory = ModuleFactory("torch.nn:Linear", {"bias": False}, "Example")
    >>> factory(3, 1)
    Linear(in_features=3, out_features=1, bias=False)
    """

    def __init__(self, module: Callable | str, module_kwargs: dict | None, owner: str) -> None:
        self.module = module
        self.factory = resolve_reference(module) if isinstance(module, str) else module
        if module_kwargs is not None and not isinstance(module_kwargs, dict):
            raise InvalidInputError(
                f"{owner}: module_kwargs must be a dict of keyword arguments or None; got "
                f"{type(module_kwargs).__name__}."
            )
        _check_json(module_kwargs or {}, "", owner)
        self.kwargs = json.loads(json.dumps(module_kwargs or {}))
        self.owner = owner

    def __call__(self, in_features: int, out_features: int) -> nn.Module:
        network = self.factory(in_features, out_features, **self.kwargs)
        if not isinstance(network, nn.Module):
            raise InvalidInputError(
                f"{self.owner}: module(in_features, out_features, **module_kwargs) must "
                f"return a torch.nn.Module; {self.module!r} returned a "
                f"{type(network).__name__}."
            )
        return network


def module_factory(module, module_kwargs, owner: str) -> ModuleFactory | None:
    """The member factory of an estimator's ``module``/``module_kwargs`` (``None`` for the
    built-in network; then ``module_kwargs`` must be ``None`` too).

    Examples
    --------
    >>> module_factory(None, None, "Example") is None
    True
    >>> module_factory("torch.nn:Linear", None, "Example")(2, 1)
    Linear(in_features=2, out_features=1, bias=True)
    """
    if module is None:
        if module_kwargs:
            raise InvalidInputError(
                f"{owner}: module_kwargs={module_kwargs!r} is passed to module=, which is None "
                "(the built-in network). Pass module= too, or drop module_kwargs."
            )
        return None
    return ModuleFactory(module, module_kwargs, owner)
