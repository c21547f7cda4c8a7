"""Packaging: ``uqkit[all]`` is what users need, the developer tools live in ``dev``/``docs``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
EXTRAS = PROJECT["optional-dependencies"]
DEVELOPER = {"dev", "docs", "bench"}  # bench: benchmark weights, a large download


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def _all_extras() -> set[str]:
    (requirement,) = EXTRAS["all"]
    match = re.fullmatch(r"uqkit\[([a-z,]+)\]", requirement.replace(" ", ""))
    assert match, f"'all' should be one self-reference uqkit[...]; got {requirement!r}"
    return set(match[1].split(","))


def test_all_is_every_user_facing_extra_and_nothing_else():
    user_facing = set(EXTRAS) - DEVELOPER - {"all"}
    assert _all_extras() == user_facing


def test_developer_tools_are_not_runtime_dependencies():
    tools = {"pytest", "pytest-xdist", "hypothesis", "ruff", "mkdocs-material", "mkdocstrings"}
    runtime = _names(PROJECT["dependencies"])
    for extra in _all_extras():
        runtime |= _names(EXTRAS[extra])
    assert not runtime & tools
    assert {"pytest", "pytest-xdist", "ruff", "hypothesis"} <= _names(EXTRAS["dev"])
    assert {"mkdocs-material", "mkdocstrings"} <= _names(EXTRAS["docs"])


def test_the_makefile_installs_the_extras_it_needs():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert '-e ".[$(EXTRAS)]"' in makefile  # which extras: the test below
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, re.MULTILINE)


def test_optional_packages_imported_by_uqkit_are_declared_in_an_extra():
    optional = {"ray": "ray", "transformers": "transformers", "peft": "peft",
                "stable_baselines3": "stable-baselines3", "gymnasium": "gymnasium"}
    declared = set().union(*(_names(EXTRAS[e]) for e in _all_extras()))
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "uqkit").rglob("*.py"))
    for module, distribution in optional.items():
        if re.search(rf"^\s*(import|from) {module}\b", sources, re.MULTILINE):
            assert distribution in declared, f"{module} is imported but in no extra of 'all'"


def test_the_makefile_installs_every_extra_and_laplace_without_torchvision():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    extras = set(re.search(r"^EXTRAS \?= (\S+)$", makefile, re.M)[1].split(","))
    # laplace is installed by name without its declared dependencies (see the Makefile's note)
    assert extras | {"laplace"} == _all_extras() | {"dev", "docs"}
    laplace = re.search(r"^LAPLACE := (.+)$", makefile, re.M)[1]
    assert _names(EXTRAS["laplace"]) <= _names(laplace.replace('"', "").split())
    assert "torchvision" not in makefile.split("LAPLACE_DEPS :=")[1].split("\n")[0]
