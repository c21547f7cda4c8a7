"""Screenshots of the HTML calibration report for 1, 3 and 6 models (docs/img/).

The models are prediction objects of known calibration on one synthetic regression problem, so
the pictures show the layout a reviewer sees (headline, grouped table with intervals, context,
small multiples), not a model's quality. Needs a ``chromium`` binary (Debian:
``apt-get install chromium``).

    python benchmarks/report_screenshots.py            # writes docs/img/report_{1,3,6}_models.png
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from uqkit.prediction import RegressionPrediction
from uqkit.report import report

ROOT = Path(__file__).resolve().parents[1]
DESCRIPTION = "synthetic heteroscedastic regression whose models are of known calibration"
# spread factor of each model's predictive std relative to the truth, and a bias
MODELS = [("calibrated", 1.0, 0.0), ("over-confident", 0.5, 0.0), ("under-confident", 2.0, 0.0),
          ("biased", 1.0, 0.6), ("slightly narrow", 0.8, 0.0), ("wide and biased", 1.6, 0.3)]


def _predictions(n_models: int, n: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    center = rng.normal(size=n)
    noise = 0.4 + 0.6 * rng.uniform(size=n)
    y = center + noise * rng.normal(size=n)
    preds, names = [], []
    for name, factor, bias in MODELS[:n_models]:
        members = center + bias + 0.1 * rng.normal(size=(3, n))
        preds.append(RegressionPrediction.mixture(members, np.tile((factor * noise) ** 2, (3, 1))))
        names.append(name)
    return preds, names, y


def _screenshot(html: Path, png: Path, height: int) -> None:
    binary = shutil.which("chromium")
    if binary is None:
        raise SystemExit("no chromium binary on PATH (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--disable-background-networking", f"--user-data-dir={profile}",
             "--virtual-time-budget=10000", "--run-all-compositor-stages-before-draw",
             f"--window-size=1280,{height}",
             f"--screenshot={png}", html.resolve().as_uri()],
            check=True, capture_output=True, timeout=180,
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--height", type=int, default=2400, help="screenshot height in px")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        for k in (1, 3, 6):
            preds, names, y = _predictions(k)
            rep = report(preds if k > 1 else preds[0], None, y, names=names, n_boot=200,
                         description=DESCRIPTION)
            html = rep.to_html(Path(folder) / f"report_{k}.html")
            png = args.out / f"report_{k}_models.png"
            _screenshot(html, png, args.height)
            print(f"wrote {png}")


if __name__ == "__main__":
    main()
