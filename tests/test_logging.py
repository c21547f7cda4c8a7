"""Output that fits logs: one ``verbose`` meaning, a bar only on a terminal, a few INFO lines
elsewhere, nothing at ``verbose=0``, and no ``print`` in library code."""

from __future__ import annotations

import ast
import io
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import uqkit
from uqkit.bayes import BayesianMLPRegressor
from uqkit.dca import DCARegressor
from uqkit.ensemble import DeepEnsembleRegressor
from uqkit.training import Progress
from uqkit.training._progress import LINES_PER_FIT

ROOT = Path(uqkit.__file__).parent


def _data(n=80):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    return X, X.sum(axis=1) + 0.1 * rng.normal(size=n)


class _FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _uqkit_records(caplog, level=logging.INFO):
    return [r for r in caplog.records if r.name.startswith("uqkit") and r.levelno >= level]


# --------------------------------------------------------------------------- the library
def test_uqkit_logger_has_a_null_handler():
    handlers = logging.getLogger("uqkit").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def _prints(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"]


# the CLI prints its results (that is its output)
_PRINTING: set[str] = set()


def test_library_code_does_not_print():
    offenders = {}
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("cli/") or relative in _PRINTING:
            continue
        lines = _prints(path)
        if lines:
            offenders[relative] = lines
    assert offenders == {}


# --------------------------------------------------------------------------- Progress itself
def test_progress_logs_one_line_per_tenth_and_a_closing_line_when_stopped_early(caplog):
    log = logging.getLogger("uqkit.test_progress")
    with caplog.at_level(logging.INFO, logger="uqkit"):
        with Progress(1000, "Work", verbose=1, logger=log, unit="step") as progress:
            for _ in range(1000):
                progress.update(1)
        full = [r.getMessage() for r in _uqkit_records(caplog)]
        caplog.clear()
        with Progress(1000, "Early", verbose=1, logger=log, unit="step") as progress:
            for _ in range(437):
                progress.update(1)
        early = [r.getMessage() for r in _uqkit_records(caplog)]
    assert len(full) == 10
    assert [m.split(":")[1].split("%")[0].strip() for m in full] == [
        str(p) for p in range(10, 101, 10)
    ]
    assert len(early) == 5 and "43% (437/1000 step)" in early[-1] and "stopped" in early[-1]
    assert len(full) + 1 <= LINES_PER_FIT


def test_progress_is_silent_at_verbose_0_even_on_a_terminal(monkeypatch, caplog):
    terminal = _FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with caplog.at_level(logging.DEBUG):
        with Progress(10, "Quiet", verbose=0, logger=logging.getLogger("uqkit.t")) as progress:
            progress.update(10)
            progress.set_postfix(loss=1.0)
    assert terminal.getvalue() == "" and _uqkit_records(caplog, logging.DEBUG) == []


def test_a_fake_terminal_gets_a_bar_and_no_log_lines(monkeypatch, caplog):
    terminal = _FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    X, y = _data()
    with caplog.at_level(logging.INFO):
        DeepEnsembleRegressor(n_members=2, hidden_layers=(8,), epochs=20, verbose=1,
                              random_state=0).fit(X, y)
    assert "Training 2 members" in terminal.getvalue() and "\r" in terminal.getvalue()
    assert _uqkit_records(caplog) == []


def test_verbose_2_adds_debug_detail(caplog):
    X, y = _data()
    with caplog.at_level(logging.DEBUG, logger="uqkit"):
        DeepEnsembleRegressor(n_members=1, hidden_layers=(8,), epochs=5, verbose=2,
                              random_state=0).fit(X, y)
    debug = [r for r in _uqkit_records(caplog, logging.DEBUG) if r.levelno == logging.DEBUG]
    assert debug and "val_loss=" in debug[0].getMessage()


# --------------------------------------------------------------------------- fits, in logs
@pytest.mark.parametrize(
    "make",
    [
        lambda v: DeepEnsembleRegressor(n_members=3, hidden_layers=(8,), epochs=50, verbose=v,
                                        random_state=0),
        lambda v: DeepEnsembleRegressor(n_members=2, hidden_layers=(8,), epochs=30, verbose=v,
                                        backend="serial", random_state=0),
        lambda v: DCARegressor(hidden_layers=(8,), epochs=30, verbose=v, random_state=0),
        lambda v: BayesianMLPRegressor(hidden_layers=(8,), epochs=30, n_samples=4, verbose=v,
                                       random_state=0),
    ],
    ids=["ensemble", "ensemble-serial", "dca", "bnn"],
)
def test_a_fit_off_a_terminal_logs_a_few_lines_and_nothing_at_verbose_0(make, caplog, capfd):
    X, y = _data()
    with caplog.at_level(logging.DEBUG, logger="uqkit"):
        make(0).fit(X, y)
    assert _uqkit_records(caplog, logging.DEBUG) == []
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    with caplog.at_level(logging.INFO, logger="uqkit"):
        make(1).fit(X, y)
    lines = _uqkit_records(caplog)
    assert 1 <= len(lines) <= LINES_PER_FIT
    assert all("\r" not in r.getMessage() for r in lines)


_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from uqkit.ensemble import DeepEnsembleRegressor
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)); y = X.sum(axis=1)
    DeepEnsembleRegressor(n_members=5, hidden_layers=(16,), epochs=100, random_state=0).fit(X, y)
    sys.stderr.write("=== verbose=1\\n"); sys.stderr.flush()
    DeepEnsembleRegressor(n_members=5, hidden_layers=(16,), epochs=100, random_state=0,
                          verbose=1).fit(X, y)
""")


def test_without_logging_configured_verbose_1_still_writes_its_lines_to_stderr(monkeypatch):
    # what a plain script sees: no handler anywhere, stderr a file (not a terminal)
    from uqkit.training import _progress

    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(_progress, "_configured", lambda logger: False)
    X, y = _data()
    DeepEnsembleRegressor(n_members=2, hidden_layers=(8,), epochs=40, random_state=0).fit(X, y)
    assert stream.getvalue() == ""
    DeepEnsembleRegressor(n_members=2, hidden_layers=(8,), epochs=40, random_state=0,
                          verbose=1).fit(X, y)
    lines = stream.getvalue().splitlines()
    assert 1 <= len(lines) <= LINES_PER_FIT
    assert all(line.startswith("uqkit.training._backends: Training 2 members") for line in lines)


@pytest.mark.slow  # a fresh interpreter imports torch: about 20 s on two busy cores
def test_a_script_redirected_to_a_file_writes_at_most_a_dozen_lines(tmp_path):
    # a fresh interpreter: logging not configured, stderr a file, as in a batch job
    log = tmp_path / "fit.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
    with log.open("w") as stderr:
        subprocess.run([sys.executable, "-c", _SCRIPT], stderr=stderr, stdout=stderr, env=env,
                       check=True, timeout=120)
    default, verbose = log.read_text().split("=== verbose=1\n")
    assert default == ""  # the default fit writes nothing
    lines = verbose.splitlines()
    assert 1 <= len(lines) <= 12, lines
    assert "\r" not in verbose and all(line.startswith("uqkit.training") for line in lines)


def test_tune_tables_follow_verbose(caplog):
    pytest.importorskip("ray")
    import pickle

    from uqkit.search._driver import _trial_progress, tune_verbosity

    assert tune_verbosity(0, tty=True) == 0
    assert tune_verbosity(1, tty=True) == 1
    assert tune_verbosity(1, tty=False) == 0  # uqkit's own lines instead of redrawn tables
    assert tune_verbosity(2, tty=False) == 2
    assert _trial_progress(20, 0) == [] and _trial_progress(20, 2) == []
    (callback,) = _trial_progress(20, 1)  # stderr is not a terminal under pytest
    callback = pickle.loads(pickle.dumps(callback))  # Tune stores its callbacks
    with caplog.at_level(logging.INFO, logger="uqkit"):
        for i in range(20):
            (callback.on_trial_complete if i % 3 else callback.on_trial_error)(i, [], None)
    lines = [r.getMessage() for r in _uqkit_records(caplog)]
    assert len(lines) == 10 and lines[-1].startswith("AutoDEUQ search: 100% (20/20 trial)")
