"""How an adversarial probe is judged (issue 17, item 10).

A probe passes when its outcome is one of three things: a correct answer (finite where the
inputs are finite; checked further by each test), a uqkit exception whose message names the
problem, or a uqkit warning. A numpy, torch, Pyro or scikit-learn exception, a NaN handed back,
or a warning from another library that is the only sign of trouble, fails it.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from uqkit.exceptions import UQKitError, UQKitWarning

# warnings that are neither a sign of trouble nor uqkit's to give: deprecations inside the
# libraries uqkit calls, and scikit-learn's notice that a column-vector y was raveled
_BENIGN = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


@dataclass
class Outcome:
    """What a probe gave: ``value`` (an answer), ``error`` (a uqkit exception) and the uqkit
    warnings it emitted."""

    value: Any = None
    error: UQKitError | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        if self.error is not None:
            return "error"
        return "warning" if self.warnings else "answer"


def probe(call) -> Outcome:
    """Run ``call()`` and judge the outcome; fail on anything but the three accepted kinds.

    With ``UQKIT_PROBE_LOG=<file>`` set, each outcome's kind is appended to that file (how the
    counts in docs/reliability.md were taken).
    """
    outcome = _judge(call)
    log = os.environ.get("UQKIT_PROBE_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(outcome.kind + "\n")
    return outcome


def _judge(call) -> Outcome:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = call()
        except UQKitError as err:
            message = str(err)
            assert len(message) >= 20, f"uqkit error without an explanation: {message!r}"
            return Outcome(error=err, warnings=_uqkit(caught))
        except Exception as err:  # any other exception is a raw traceback for the user
            raise AssertionError(
                f"raw {type(err).__module__}.{type(err).__name__} instead of a uqkit error: {err}"
            ) from err
    foreign = [w for w in caught if not issubclass(w.category, (UQKitWarning, *_BENIGN))]
    foreign = [w for w in foreign if w.category.__name__ != "DataConversionWarning"]
    assert not foreign, "warnings from other libraries instead of a uqkit answer: " + "; ".join(
        f"{w.category.__name__}: {w.message}" for w in foreign[:3]
    )
    return Outcome(value=value, warnings=_uqkit(caught))


def _uqkit(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, UQKitWarning)]


def assert_no_nan(*arrays, where: str = "") -> None:
    """No NaN anywhere in ``arrays`` (infinities are checked by the caller where they matter)."""
    for array in arrays:
        values = np.asarray(array, dtype=np.float64)
        assert not np.isnan(values).any(), f"NaN handed back {where}"
