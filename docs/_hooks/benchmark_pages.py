"""MkDocs hook: publish ``benchmarks/results`` inside the documentation site.

Every ``benchmarks/results/*.md`` present at build time becomes the page
``benchmarks/<name>.md`` of the site (its images, e.g. ``ggd_rl.png``, are copied next to it),
``benchmarks/README.md`` becomes ``benchmarks/index.md`` (its ``results/`` links rewritten to
point at those pages), and a "Benchmarks" section listing them is appended to the navigation.
The results files stay where the benchmark scripts write them; nothing is copied into ``docs/``
and nothing is fetched.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

_SUFFIXES = {".md", ".png", ".svg", ".jpg", ".csv"}


def _results_dir(config) -> Path:
    return Path(config["config_file_path"]).resolve().parent / "benchmarks" / "results"


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def on_config(config):
    results = _results_dir(config)
    pages = sorted(results.glob("*.md")) if results.is_dir() else []
    entries = [{"Overview": "benchmarks/index.md"}]
    entries += [{_title(p): f"benchmarks/{p.name}"} for p in pages]
    config["nav"].append({"Benchmarks": entries})
    return config


def on_files(files, config):
    results = _results_dir(config)
    if not results.is_dir():
        return files
    readme = results.parent / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8").replace("](results/", "](")
        files.append(File.generated(config, "benchmarks/index.md", content=text))
    for path in sorted(results.iterdir()):
        if path.suffix in _SUFFIXES and path.is_file():
            files.append(File.generated(config, f"benchmarks/{path.name}", abs_src_path=str(path)))
    return files
