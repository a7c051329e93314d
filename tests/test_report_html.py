"""report.html: self-contained, never runs what a dataset carries, and works in a real browser."""

from __future__ import annotations

import json
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from audit.cli import EXIT_FAILED, EXIT_PASSED, main
from audit.sample_data import save_image
from reports.html import render_html

ARTIFACTS = Path(
    os.environ.get("LEAKAGE_AUDIT_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts")
)

IMG_NAME = "<img src=x onerror=alert(1)>.png"
CLASS_DIR = "<script>alert(2)"
MANIFEST_LABEL = "</script><script>alert(3)</script>"

ATTRIBUTION = {
    "train_accuracy": 0.97,
    "val_accuracy": 0.95,
    "test_accuracy": 0.52,
    "gap": 0.45,
    "verdict": "data",
    "causes": [
        {
            "cause": "normalization_mismatch",
            "kind": "data",
            "points": 31.0,
            "evidence": {"test_accuracy_renormalized": 0.83},
            "fix": "apply the same Rescaling(1/255) to test",
        },
        {
            "cause": "overfitting",
            "kind": "model",
            "points": 6.0,
            "evidence": {"regularised_gap": 0.39},
            "fix": "add dropout and augmentation",
        },
        {
            "cause": "split_leakage",
            "kind": "data",
            "points": -2.0,
            "evidence": {"clean_test_accuracy": 0.50},
            "fix": "drop the leaked copies",
        },
    ],
    "learning_curve": [
        {"fraction": 0.25, "train_accuracy": 0.99, "test_accuracy": 0.45},
        {"fraction": 0.5, "train_accuracy": 0.98, "test_accuracy": 0.50},
        {"fraction": 1.0, "train_accuracy": 0.97, "test_accuracy": 0.52},
    ],
    "history": {
        "loss": [1.2, 0.5, 0.3, 0.2],
        "accuracy": [0.6, 0.85, 0.93, 0.97],
        "val_loss": [0.8, 0.45, 0.4, 0.42],
        "val_accuracy": [0.75, 0.9, 0.94, 0.95],
    },
}


class _Refs(HTMLParser):
    """Collects tags, attributes that can load something, and script/style text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.loads: list[tuple[str, str, str]] = []
        self.code: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "action", "poster", "xlink:href"):
                self.loads.append((tag, name, value or ""))
            if name.startswith("on"):
                self.loads.append((tag, name, value or ""))
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in:
            self.code.append(data)


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory, digits):
    """A check of a digit tree whose file and class names hold HTML and script."""
    root = tmp_path_factory.mktemp("hostile")
    x, _ = digits
    for k in range(40):
        split = "train" if k < 28 else "test"
        folder = CLASS_DIR if k % 2 else "7"
        save_image(x[k], root / split / folder / f"{k:03d}.png")
    save_image(x[1], root / "test" / CLASS_DIR / IMG_NAME)  # an exact copy of train's 001.png
    out = root / "out"
    assert main(["check", str(root), "--out", str(out), "--no-cache", "-q"]) == EXIT_FAILED
    return out


def test_html_references_nothing_outside_itself(hostile_report):
    html = (hostile_report / "report.html").read_text()
    refs = _Refs()
    refs.feed(html)
    assert refs.tags.count("script") == 1
    assert not {"link", "iframe", "object", "embed", "base", "form"} & set(refs.tags)
    for tag, name, value in refs.loads:
        assert name == "src" and tag == "img", (tag, name, value)
        assert value.startswith("data:image/png;base64,"), value[:40]
    assert refs.loads, "the duplicate gallery should embed thumbnails"
    code = "\n".join(refs.code)
    for needle in ("http:", "https:", "@import", "url(", "fetch(", "XMLHttpRequest", "eval("):
        assert needle not in code
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_dataset_names_are_rendered_as_text(hostile_report, tmp_path, digits):
    html = (hostile_report / "report.html").read_text()
    assert IMG_NAME not in html and "<script>alert" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.png" in html
    assert "&lt;script&gt;alert(2)" in html
    # a manifest whose class name closes the script element
    x, _ = digits
    rows = []
    for k in range(30):
        path = f"img/{k:03d}.png"
        save_image(x[k], tmp_path / path)
        label = MANIFEST_LABEL if k % 2 else "plain"
        rows.append({"path": path, "label": label, "split": "train" if k < 20 else "test"})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "out"
    assert main(["check", str(tmp_path / "m.csv"), "--out", str(out), "--no-cache", "-q"]) in (
        EXIT_PASSED,
        EXIT_FAILED,
    )
    page = (out / "report.html").read_text()
    refs = _Refs()
    refs.feed(page)
    assert refs.tags.count("script") == 1
    assert MANIFEST_LABEL not in page and "&lt;/script&gt;&lt;script&gt;alert(3)" in page


def test_report_command_re_renders_the_same_page(hostile_report, capsys):
    page = hostile_report / "report.html"
    before = page.read_text()
    page.unlink()
    assert main(["report", str(hostile_report)]) == EXIT_PASSED
    assert page.read_text() == before
    assert main(["report", str(hostile_report / "missing")]) == 2
    assert "no report.json here" in capsys.readouterr().err


def test_html_shows_nothing_the_json_lacks(hostile_report):
    """Every thumbnail and finding on the page is in report.json."""
    report = json.loads((hostile_report / "report.json").read_text())
    refs = _Refs()
    refs.feed((hostile_report / "report.html").read_text())
    uris = {value for _, _, value in refs.loads}
    assert uris <= set(report["thumbnails"].values())
    assert render_html(report) == (hostile_report / "report.html").read_text()


def test_training_history_is_plotted_per_epoch(hostile_report):
    """Accuracy and loss per epoch, train and validation, on their own scales."""
    import re

    report = json.loads((hostile_report / "report.json").read_text())
    history = ATTRIBUTION["history"]
    html = render_html({**report, "attribution": ATTRIBUTION})
    plots = dict(re.findall(r'data-metric="(\w+)"(.*?)</svg>', html, re.S))
    assert set(plots) == {"accuracy", "loss"}
    for metric, scale in (("accuracy", 1.0), ("loss", max(history["loss"] + history["val_loss"]))):
        drawn = re.findall(r'points="([^"]+)"><title>(\w+)</title>', plots[metric])
        assert [name for _, name in drawn] == [metric, f"val_{metric}"]
        for points, name in drawn:
            ys = [float(p.split(",")[1]) for p in points.split()]
            xs = [float(p.split(",")[0]) for p in points.split()]
            assert xs == sorted(xs) and len(xs) == len(history[name])
            # higher values are drawn higher (smaller y), on the plot's own scale
            expected = [10 + 160 * (1 - v / scale) for v in history[name]]
            assert ys == pytest.approx(expected, abs=0.06)
    assert "training-history" not in render_html({**report, "attribution": None})


def _browser():
    """A headless Debian chromium driven by chromedriver, or a skip saying what is missing."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip(
            "chromium/chromedriver not installed (make test installs them with apt as root)"
        )
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager fetch anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,1600")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def test_report_in_headless_chromium(hostile_report):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    report = json.loads((hostile_report / "report.json").read_text())
    report["attribution"] = ATTRIBUTION
    page = hostile_report / "with-attribution.html"
    page.write_text(render_html(report))
    driver = _browser()
    try:
        driver.get(page.as_uri())
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018 - an alert would mean the page ran dataset text
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        verdict = driver.find_element(By.ID, "verdict")
        assert verdict.is_displayed() and "Gate FAILED" in verdict.text
        assert "mostly DATA: normalization mismatch (31 points)" in verdict.text
        chart = driver.find_element(By.ID, "attribution-chart")
        assert chart.is_displayed() and len(chart.find_elements(By.TAG_NAME, "rect")) == 6
        assert driver.find_element(By.ID, "learning-curve").is_displayed()
        history = driver.find_element(By.ID, "training-history")
        plots = history.find_elements(By.CSS_SELECTOR, "svg.history-plot")
        assert [p.get_attribute("data-metric") for p in plots] == ["accuracy", "loss"]
        for plot in plots:
            lines = plot.find_elements(By.TAG_NAME, "polyline")
            assert plot.is_displayed() and len(lines) == 2  # train and validation
            assert all(len(line.get_attribute("points").split()) == 4 for line in lines)
        table = driver.find_element(By.ID, "findings-table")
        assert table.is_displayed()
        gallery = driver.find_element(By.ID, "duplicate-gallery")
        images = gallery.find_elements(By.TAG_NAME, "img")
        assert images and all(
            driver.execute_script("return arguments[0].naturalWidth", img) == 32 for img in images
        )
        body = driver.find_element(By.TAG_NAME, "body").text
        assert IMG_NAME in body and CLASS_DIR in body  # shown as text, not run
        rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
        Select(driver.find_element(By.ID, "filter-severity")).select_by_value("error")
        visible = [r for r in rows if r.is_displayed()]
        assert visible and all(r.get_attribute("data-severity") == "error" for r in visible)
        assert len(visible) == sum(f["severity"] == "error" for f in report["findings"])
        Select(driver.find_element(By.ID, "filter-severity")).select_by_value("")
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(int(height) + 40, 12000))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "report-chromium.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")
    finally:
        driver.quit()
