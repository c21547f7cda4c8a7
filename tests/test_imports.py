"""The import graph of ``uqkit/``: no circle, metrics free of estimators, layers import downward.

Every ``import`` statement of every file under ``uqkit/`` is read with ``ast`` (module-level and
function-level, relative imports resolved); nothing is imported, so the graph is the one the code
declares. A package's ``__init__.py`` is the node of its package. Importing ``uqkit.P.m`` from
outside ``P`` also runs ``uqkit/P/__init__.py``: that edge is in the graph too.

The layers, bottom up (``docs/architecture.md``), and what each test asserts:

* no import circle (the circle is printed);
* ``import uqkit.metrics`` in a fresh interpreter loads no estimator module;
* what a Ray worker imports to train search trials loads neither scikit-learn, nor
  ``scipy.stats``, nor Ray Tune (seconds of start-up on every cold worker);
* a module imports only from its own package, from a lower layer, or from a package of its own
  layer where that layer allows it (the private helpers and ``nn``/``losses`` may use each other;
  among the families only ``ensemble`` may import ``search``);
* no name starting with ``_`` crosses a package, and other packages are reached through their
  face (``uqkit.training``, not ``uqkit.training._ray``) or the shared helper modules;
* a function-level import of a uqkit module only where laziness is the point: the package root's
  lazy table, ``uqkit/cli/`` and ``uqkit/utils/``, or a module that needs a heavy optional
  dependency (ray, transformers, pyro, ...) at its top (lazy imports of third-party packages are
  fine anywhere).

The package root ``uqkit/__init__.py`` binds the prediction types eagerly and the rest
(``load`` too) through its lazy ``_LAZY`` table: ``from uqkit import DeepEnsembleRegressor``
is read as an import of ``uqkit.ensemble``, and the root sits at the layer of its eager imports.
Any package face's lazy table (a module-level ``{name: "uqkit.module"}`` dict) is read the same
way.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "uqkit"

# Bottom-up layers of the top-level parts of uqkit (the root uqkit/__init__.py: see _rank).
LAYERS: list[set[str]] = [
    {"exceptions"},
    {"prediction"},
    {"metrics"},
    {"_io", "_random", "_data", "_trust", "datasets"},
    {"base"},
    {"nn", "losses"},
    {"training"},
    {"ensemble", "search", "dca", "evidential", "bayes", "rl", "embeddings", "posthoc"},
    {"interop"},
    {"calibration"},
    {"report"},
    {"cli"},
    {"utils"},
]
FAMILIES = LAYERS[7]
# Same-layer imports that are allowed: (importer part, imported part).
SIBLINGS_ALLOWED = {("ensemble", "search")} | {
    (a, b) for layer in (LAYERS[3], LAYERS[5]) for a in layer for b in layer
}
SHARED_HELPERS = {"uqkit._io", "uqkit._random", "uqkit._data", "uqkit._trust"}
# Where a function-level import of a uqkit module is the point (lazy loading).
LAZY_ALLOWED = ("", "cli", "utils")
# Third-party packages heavy or optional enough that a module needing them is imported lazily.
HEAVY = {"ray", "transformers", "peft", "stable_baselines3", "gymnasium", "pyro", "gpytorch"}
ESTIMATOR_PACKAGES = (
    "ensemble", "search", "dca", "evidential", "bayes", "rl", "embeddings", "interop",
    "calibration", "report", "training", "posthoc",
)


@dataclass(frozen=True)
class Import:
    """One imported uqkit module (and the names taken from it) in one file."""

    importer: str
    target: str
    names: tuple[str, ...]
    line: int
    in_function: bool
    written: str = ""  # the module named in the source, when a lazy table resolved it

    def where(self) -> str:
        return f"{self.importer} (line {self.line})"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _part(module: str) -> str:
    """Top-level part of a uqkit module: 'training' for uqkit.training._ray, '' for uqkit."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _rank(module: str) -> int:
    part = _part(module)
    if part == "":  # the root: the layer of what it imports eagerly
        return max(_rank(imp.target) for imp in IMPORTS if imp.importer == "uqkit")
    for rank, layer in enumerate(LAYERS):
        if part in layer:
            return rank
    raise AssertionError(f"{module}: its folder {part!r} has no layer; add it to LAYERS")


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = MODULES[importer].name == "__init__.py"
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text(encoding="utf-8"), filename=str(MODULES[module]))


def _lazy_table(module: str) -> dict[str, str]:
    """A package face's lazy table: module-level ``{name: "uqkit.module"}`` dicts that its
    ``__getattr__`` imports from (the root's ``_LAZY``, ``uqkit.search``'s Ray names, ...)."""
    if MODULES[module].name != "__init__.py":
        return {}
    table: dict[str, str] = {}
    for node in _tree(module).body:
        if not isinstance(node, ast.Assign | ast.AnnAssign) or not isinstance(node.value, ast.Dict):
            continue
        pairs = list(zip(node.value.keys, node.value.values))
        if pairs and all(
            isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
            and isinstance(v.value, str) and v.value.startswith("uqkit")
            for k, v in pairs
        ):
            table.update({k.value: v.value for k, v in pairs})
    return table


LAZY_TABLES = {module: _lazy_table(module) for module in MODULES}
ROOT_LAZY = LAZY_TABLES["uqkit"]


def _imports_of(module: str) -> list[Import]:
    tree = _tree(module)
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "uqkit":
                        found.append(Import(module, alias.name, (), child.lineno, inner))
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(module, child)
                if target.split(".")[0] != "uqkit":
                    continue
                plain = []
                for alias in child.names:
                    if f"{target}.{alias.name}" in MODULES:  # a submodule, not a name
                        found.append(
                            Import(module, f"{target}.{alias.name}", (), child.lineno, inner)
                        )
                    else:
                        plain.append(alias.name)
                lazy = LAZY_TABLES.get(target, {})  # a lazy name lives in the module it names
                for name in [n for n in plain if n in lazy]:
                    found.append(
                        Import(module, lazy[name], (name,), child.lineno, inner, written=target)
                    )
                plain = [n for n in plain if n not in lazy]
                if plain:
                    found.append(Import(module, target, tuple(plain), child.lineno, inner))
            visit(child, inner)

    visit(tree, False)
    return found


IMPORTS = [imp for module in MODULES for imp in _imports_of(module)]


def _needs_heavy_dependency(module: str) -> bool:
    """Whether importing ``module`` imports a package of HEAVY (directly or through uqkit)."""
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current in seen or current not in MODULES:
            continue
        seen.add(current)
        for node in _module_level(_tree(current)):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            if roots & HEAVY:
                return True
        todo.extend(i.target for i in IMPORTS if i.importer == current and not i.in_function)
    return False


def _module_level(node: ast.AST):
    """Statements that run on import: not inside a function or a class body's methods."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        yield child
        yield from _module_level(child)


def _graph() -> dict[str, set[str]]:
    """Module → modules its import statements run (with the packages entered on the way)."""
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for imp in IMPORTS:
        parts = imp.target.split(".")
        for n in range(1, len(parts) + 1):
            entered = ".".join(parts[:n])
            # a package the importer is inside of is already being imported: no new edge
            if entered in MODULES and not (imp.importer + ".").startswith(entered + "."):
                if entered != imp.importer:
                    graph[imp.importer].add(entered)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def _report(title: str, problems: list[str]) -> str:
    return f"{title} ({len(problems)}):\n  " + "\n  ".join(sorted(set(problems)))


# ------------------------------------------------------------------------------------ tests
def test_the_graph_is_read_from_every_file():
    assert "uqkit.base" in MODULES and "uqkit.metrics" in MODULES
    targets = {imp.target for imp in IMPORTS}
    assert "uqkit.base" in targets and "uqkit.exceptions" in targets


def test_cycle_finder_finds_a_circle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_metrics_import_no_estimator():
    code = (
        "import sys, uqkit.metrics\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('uqkit')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split()
    estimators = [m for m in loaded if _part(m) in ESTIMATOR_PACKAGES]
    assert estimators == [], f"import uqkit.metrics loads estimator modules: {estimators}"


def test_a_search_worker_imports_no_sklearn_scipy_stats_or_tune():
    # what uqkit.search._pooled._warm imports on every pooled worker of a search
    pytest.importorskip("ray")
    code = (
        "import sys, ray, uqkit.search._trainable\n"
        "print(' '.join(m for m in ('sklearn', 'scipy.stats', 'ray.tune') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [], f"a search worker imports {result.stdout.split()}"


def test_layers_import_only_downward():
    problems = []
    for imp in IMPORTS:
        if imp.target not in MODULES:
            problems.append(f"{imp.where()} imports {imp.target}, which does not exist")
            continue
        own, other = _part(imp.importer), _part(imp.target)
        if imp.importer == "uqkit" or own == other or _rank(imp.target) < _rank(imp.importer):
            continue
        if _rank(imp.target) == _rank(imp.importer) and (own, other) in SIBLINGS_ALLOWED:
            continue
        kind = "sibling family" if own in FAMILIES and other in FAMILIES else "higher layer"
        problems.append(f"{imp.where()} imports {imp.target} ({kind})")
    assert not problems, _report("imports that go up or sideways", problems)


def test_no_private_name_crosses_a_package():
    problems = [
        f"{imp.where()} imports {name} from {imp.target}"
        for imp in IMPORTS
        for name in imp.names
        if name.startswith("_")
        and not (name.startswith("__") and name.endswith("__"))  # __version__ is public
        and _part(imp.importer) != _part(imp.target)
    ]
    assert not problems, _report("private names used across packages", problems)


def test_other_packages_are_imported_through_their_face():
    problems = []
    for imp in IMPORTS:
        if _part(imp.importer) == _part(imp.target) or imp.target in SHARED_HELPERS:
            continue
        private = [p for p in (imp.written or imp.target).split(".")[2:] if p.startswith("_")]
        if private:
            problems.append(f"{imp.where()} imports {imp.target}")
    assert not problems, _report("private modules of other packages", problems)


def test_function_level_imports_only_where_laziness_is_the_point():
    problems = [
        f"{imp.where()} imports {imp.target} inside a function"
        for imp in IMPORTS
        if imp.in_function
        and _part(imp.importer) not in LAZY_ALLOWED
        and not _needs_heavy_dependency(imp.target)
    ]
    assert not problems, _report("function-level imports of uqkit modules", problems)


@pytest.mark.parametrize("part", sorted({_part(m) for m in MODULES} - {""}))
def test_every_folder_has_a_layer(part):
    assert any(part in layer for layer in LAYERS), f"uqkit/{part} is in no layer of LAYERS"


def test_the_root_sits_at_the_layer_of_its_eager_imports():
    assert _rank("uqkit") == _rank("uqkit.prediction")
    assert ROOT_LAZY["DeepEnsembleRegressor"] == "uqkit.ensemble"
