"""Every script in ``examples/`` runs end to end in its reduced (``--quick``) mode.

Each example is loaded from its file and its ``main(["--quick", ...])`` is called in this process
(one interpreter, so torch and friends are imported once). An example whose uqkit family or
optional dependency is missing is skipped with the reason; examples that need the shared data
folder are skipped when it is absent. The checks look at what the example printed or wrote, so a
script that silently does nothing fails.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _has_shared_data(*parts: str) -> bool:
    from uqkit.datasets import data_root

    try:
        return data_root().joinpath(*parts).exists()
    except Exception:  # data_root raises when no data folder is found
        return False


def _run(name: str, *args: str) -> None:
    spec = importlib.util.spec_from_file_location(f"uqkit_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--quick", *args])


def test_every_example_is_tested():
    tested = {
        "tabular_regression_report",
        "image_classification_ood",
        "lora_text_bayesian",
        "rl_ggd_critic",
        "glove_v_bias_test",
        "ray_cluster_search",
    }
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_tabular_regression_report(tmp_path, capsys):
    _run("tabular_regression_report", "--output", str(tmp_path))
    out = capsys.readouterr().out
    assert "90% intervals" in out and "## Verdicts" in out
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "[Coverage 90%](#coverage-90)" in report and "conformal" in report
    assert (tmp_path / "report.html").stat().st_size > 1000


def test_image_classification_ood(capsys):
    if not _has_shared_data("images", "mnist"):
        pytest.skip("MNIST/notMNIST are not in the shared data folder (uqkit.datasets.data_root)")
    _run("image_classification_ood")
    out = capsys.readouterr().out
    assert "(#ood-auroc-epistemic)" in out
    assert "deep ensemble:" in out and "evidential:" in out


def test_lora_text_bayesian(capsys):
    pytest.importorskip("transformers", reason="needs the llm extra (transformers)")
    pytest.importorskip("peft", reason="needs the llm extra (peft)")
    if not _has_shared_data("text", "stsa.binary.train"):
        pytest.skip("SST-2 is not in the shared data folder (uqkit.datasets.data_root)")
    _run("lora_text_bayesian")
    out = capsys.readouterr().out
    assert "TFB noise scale: sigma =" in out
    assert "member_probs (2, 64, 2)" in out
    assert "| LoRA (deterministic) | LoRA + TFB |" in out


def test_rl_ggd_critic(capsys):
    pytest.importorskip("stable_baselines3", reason="needs the rl extra (stable-baselines3)")
    pytest.importorskip("gymnasium", reason="needs the rl extra (gymnasium)")
    _run("rl_ggd_critic")
    out = capsys.readouterr().out
    assert "(ggd predictive)" in out
    assert out.count("90% [") == 4  # one line per environment


def test_glove_v_bias_test(capsys):
    if not _has_shared_data("corpus", "state_union.txt"):
        pytest.skip("the State of the Union corpus is not in the shared data folder")
    _run("glove_v_bias_test")
    out = capsys.readouterr().out
    assert "vocabulary: 1000 words" in out
    assert "95% interval" in out and "president" in out


@pytest.mark.slow  # starting Ray alone takes 20-60 s on a shared machine
@pytest.mark.ray
def test_ray_cluster_search(capsys):
    pytest.importorskip("ray", reason="needs the search extra (ray[tune])")
    import ray

    started_here = not ray.is_initialized()
    try:
        _run("ray_cluster_search")
    finally:
        if started_here and ray.is_initialized():
            ray.shutdown()
    out = capsys.readouterr().out
    assert "2 members selected" in out or "1 members selected" in out
    assert "test NLL" in out and "90% coverage" in out
