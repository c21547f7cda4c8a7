"""docs/dca.md names only parameters that exist (it once named a ``standardize=`` that did not)."""

import inspect
import re
from pathlib import Path

from uqkit.dca import DCAClassifier, DCAModule, DCARegressor, consistency_step

PAGE = Path(__file__).resolve().parents[2] / "docs" / "dca.md"


def test_every_parameter_the_page_names_exists():
    known = set()
    for obj in (DCAClassifier, DCARegressor, DCAModule, consistency_step):
        known |= set(inspect.signature(obj).parameters)
    named = set(re.findall(r"`(\w+)=", PAGE.read_text(encoding="utf-8")))
    assert named, "the page names no parameter: the pattern is out of date"
    assert sorted(named - known) == []
