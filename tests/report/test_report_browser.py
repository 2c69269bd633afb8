"""The report in a real browser: headless Chromium loads it with no console message, no failed
resource and every chart decoded. Skipped where Chromium is not installed
(`scripts/install-test-tools.sh` installs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from thresher.cli import main
from thresher_testing import REPO

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/install-test-tools.sh)"),
]

# Injected into a copy of the report: records script errors and failed resources (which never reach
# window.onerror), then the state of every image, into attributes that --dump-dom prints.
PROBE = """<script>
window.__problems = [];
window.addEventListener('error', e => {
  const t = e.target;
  window.__problems.push(t && t.tagName ? 'failed to load ' + t.tagName + ' ' + (t.src || t.href) : String(e.message));
}, true);
window.addEventListener('load', () => {
  const images = [...document.images];
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0));
  document.documentElement.setAttribute('data-images', String(images.length));
  document.documentElement.setAttribute('data-broken', broken.map(i => i.getAttribute('src').slice(0, 60)).join('|'));
  document.documentElement.setAttribute('data-problems', window.__problems.join('|'));
  document.documentElement.setAttribute('data-probe', 'done');
});
</script>"""


def _chromium(url: str, *extra: str) -> subprocess.CompletedProcess:
    profile = Path(os.environ.get("TMPDIR", "/tmp"))
    return subprocess.run(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile / f'thresher-chromium-{os.getpid()}'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def check_in_chromium(index: Path, tmp_path: Path) -> int:
    """Loads the report and returns how many images rendered; fails on any problem."""
    html = index.read_text()
    probe_copy = index.with_name("index.probe.html")
    probe_copy.write_text(html.replace("<head>", "<head>" + PROBE, 1))
    try:
        run = _chromium(probe_copy.as_uri(), "--dump-dom")
    finally:
        probe_copy.unlink()
    assert run.returncode == 0, run.stderr[-2000:]
    assert 'data-probe="done"' in run.stdout, "the page did not finish loading"
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    problems = re.search(r'data-problems="([^"]*)"', run.stdout).group(1)
    assert problems == "", problems
    broken = re.search(r'data-broken="([^"]*)"', run.stdout).group(1)
    assert broken == "", f"images that did not render: {broken}"
    images = int(re.search(r'data-images="(\d+)"', run.stdout).group(1))
    # and the unmodified report, as a user opens it: still no console message, and a non-blank screenshot
    shot = tmp_path / "shot.png"
    run = _chromium(index.as_uri(), f"--screenshot={shot}", "--window-size=1280,2400")
    assert run.returncode == 0, run.stderr[-2000:]
    assert not [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    from PIL import Image

    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 50, "the screenshot is blank"
    return images


def _run_pipeline(name: str, out: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    assert main(["run", f"pipelines/{name}", "--output", str(out), "--workers", "1", "--quiet"]) == 0


@pytest.mark.parametrize("pipeline", ["quickstart.yaml", "phi-style.yaml"])
@pytest.mark.parametrize("embed", [False, True], ids=["png-files", "embedded"])
def test_report_renders_in_headless_chromium(pipeline: str, embed: bool, tmp_path: Path, monkeypatch):
    if not (REPO / "pipelines" / pipeline).exists():
        pytest.skip(f"pipelines/{pipeline} does not exist yet")
    if pipeline != "quickstart.yaml" and embed:
        pytest.skip("embedding is checked on the quickstart")
    out = tmp_path / "out"
    _run_pipeline(pipeline, out, monkeypatch)
    args = ["report", str(out), "--quiet"] + (["--embed"] if embed else [])
    assert main(args) == 0
    index = out / "report" / "index.html"
    images = check_in_chromium(index, tmp_path)
    assert images == index.read_text().count("<img ")
    assert images >= 10


def test_the_probe_catches_a_broken_image(tmp_path: Path):
    page = tmp_path / "index.html"
    page.write_text(
        "<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head><body><img src='missing.png'></body></html>"
    )
    with pytest.raises(AssertionError, match="did not render: missing.png|failed to load IMG"):
        check_in_chromium(page, tmp_path)
