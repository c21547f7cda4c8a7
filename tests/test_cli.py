import subprocess
import sys

import pytest

import uqkit
from uqkit.cli import build_parser, main


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "demo" in out


def test_every_subcommand_has_help():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name, sub in subparsers.choices.items():
        text = sub.format_help()
        assert sub.description or name in text, name


def test_demo_writes_table_plot_and_model(tmp_path, capsys):
    code = main(["demo", "--output", str(tmp_path), "--epochs", "5", "--members", "2", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "90% interval coverage" in out and "RMSE" in out
    assert (tmp_path / "predictions.png").stat().st_size > 10_000
    model = uqkit.load(tmp_path / "model.safetensors")
    assert model.n_members == 2


def test_console_script_entry_point():
    result = subprocess.run([sys.executable, "-m", "uqkit.cli", "--version"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.startswith("uqkit ")
