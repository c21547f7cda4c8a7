"""The HTML report rendered in a real (headless) Chromium: every image loads, every section exists.

Needs a ``chromium`` binary (Debian: ``apt-get install chromium``); skipped without one.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.report import report

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which("chromium") is None,
        reason="no chromium binary on PATH (apt-get install chromium)",
    ),
]

# Runs after the page has loaded and writes what the browser saw into the DOM for --dump-dom.
_PROBE = """
<script>
window.addEventListener("load", function () {
  var images = Array.prototype.map.call(document.images, function (img) {
    return {loaded: img.complete && img.naturalWidth > 0, width: img.naturalWidth,
            height: img.naturalHeight, shown: img.getBoundingClientRect().width};
  });
  var headings = Array.prototype.map.call(document.querySelectorAll("h2"), function (h) {
    return h.textContent;
  });
  var probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({images: images, headings: headings,
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth});
  document.body.appendChild(probe);
});
</script>
"""


def _render(html_path, tmp_path) -> dict:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("no chromium binary on PATH (apt-get install chromium)")
    probed = html_path.with_name("probed_" + html_path.name)
    probed.write_text(html_path.read_text().replace("</body>", _PROBE + "</body>"))
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--virtual-time-budget=10000",
        "--window-size=1280,2000",
        "--dump-dom",
        probed.resolve().as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"Chromium did not render the page (exit {result.returncode}): {result.stderr}"
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def _regression_report():
    rng = np.random.default_rng(0)
    center = rng.normal(size=300)
    y = center + rng.normal(size=300)
    members = center + 0.2 * rng.normal(size=(3, 300))
    narrow = RegressionPrediction.mixture(members, np.full((3, 300), 0.3))
    right = RegressionPrediction.mixture(members, np.full((3, 300), 1.0))
    ood = RegressionPrediction.mixture(3 * rng.normal(size=(3, 300)), np.ones((3, 300)))
    return report([narrow, right], None, y, X_ood=[ood, ood], names=["narrow", "right"],
                  n_boot=100)


def _classification_report():
    rng = np.random.default_rng(1)
    members = rng.dirichlet(np.ones(3) * 0.7, size=(3, 400))
    pred = ClassificationPrediction.from_members(members)
    labels = (rng.uniform(size=(400, 1)) > pred.probs.cumsum(1)).sum(1).clip(0, 2)
    return report(pred, None, labels, names=["ensemble"], n_boot=100)


@pytest.mark.parametrize(
    ("make", "headings"),
    [
        (
            _regression_report,
            [
                "Summary",
                "Models and data",
                "Verdicts",
                "Calibration curve",
                "Interval coverage",
                "PIT histogram",
                "Sharpness",
                "Error vs predicted uncertainty",
                "Out-of-distribution",
                "OOD detection ROC",
                "Metric definitions",
            ],
        ),
        (
            _classification_report,
            [
                "Summary",
                "Models and data",
                "Verdicts",
                "Reliability diagram",
                "Confidence histogram",
                "Selective prediction",
                "Metric definitions",
            ],
        ),
    ],
)
def test_report_renders_in_chromium(tmp_path, make, headings):
    path = make().to_html(tmp_path / "report.html")
    seen = _render(path, tmp_path)
    assert seen["headings"] == headings
    figures = len(headings) - 4  # summary, context, verdicts and definitions have no image
    assert len(seen["images"]) == figures
    for image in seen["images"]:
        assert image["loaded"], f"an image did not load: {image}"
        assert image["width"] > 200 and image["height"] > 200
        assert image["shown"] >= 700, f"a figure is drawn narrower than 700 px: {image}"
    assert seen["scrollWidth"] <= seen["clientWidth"], "the page scrolls sideways at 1280 px"


def test_committed_example_report_renders(tmp_path):
    example = Path(__file__).resolve().parents[2] / "docs" / "example_report.html"
    if not example.is_file():
        pytest.skip("docs/example_report.html is not in this checkout")
    copy = tmp_path / "example_report.html"
    copy.write_text(example.read_text())
    seen = _render(copy, tmp_path)
    assert "Out-of-distribution" in seen["headings"]
    # calibration curve, coverage, PIT, sharpness, error vs std, OOD histogram, OOD ROC
    assert len(seen["images"]) == 7
    assert all(image["loaded"] and image["shown"] >= 700 for image in seen["images"])
