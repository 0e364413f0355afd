"""report.html opens in headless Chromium without console errors and renders a real page.

Needs /usr/bin/chromium (`make browser` installs Debian's package); skipped with the reason
otherwise. Chromium runs in its own process group, killed whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from tests.fixtures.runs import rebuilt

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--enable-logging=stderr",
    "--v=0",
    "--hide-scrollbars",
    "--window-size=1280,2400",
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (run `make browser`); browser check skipped"
)


def run_chromium(args: list[str], profile: Path, timeout: float = 90.0) -> tuple[str, str]:
    proc = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):  # zygote, renderer, … share the group
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return out, err


def console_problems(stderr: str) -> list[str]:
    """Console messages (the report has no script: any is a problem) and failed loads."""
    markers = ("CONSOLE", "Uncaught", "Failed to load resource", "net::ERR_")
    return [line for line in stderr.splitlines() if any(m in line for m in markers)]


@pytest.fixture(scope="module")
def report_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    run_dir = rebuilt("run_small", tmp_path_factory.getbasetemp())
    return (run_dir / "report.html").resolve().as_uri()


def test_report_screenshot_without_console_errors(report_url: str, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    _out, err = run_chromium([f"--screenshot={shot}", report_url], tmp_path / "profile")
    assert not console_problems(err), console_problems(err)
    assert shot.is_file(), err[-2000:]
    assert shot.stat().st_size > 30_000
    with Image.open(shot) as img:
        assert img.size == (1280, 2400)
        stddev = ImageStat.Stat(img.convert("L")).stddev[0]
        assert stddev > 10, "screenshot is (nearly) blank"


def test_report_dom_has_every_section_and_chart(report_url: str, tmp_path: Path) -> None:
    dom, err = run_chromium(["--dump-dom", report_url], tmp_path / "profile")
    assert not console_problems(err), console_problems(err)
    for section in (
        "answer",
        "charts",
        "summary",
        "evidence",
        "fairness",
        "configuration",
        "integrity",
        "notes",
        "method",
    ):
        assert f'id="{section}"' in dom, section
    assert dom.count('class="chart"') >= 4  # the charts, inline SVG


# The report in a frame of the width asked (headless Chromium's own window is at least 500 px
# wide), and one script that writes, once the frame is laid out, how wide the report's content
# is against the frame (the report itself has no script).
FRAME = """<html><body style="margin:0"><iframe id="r" src="{src}"
style="width:{width}px;height:900px;border:0"></iframe><script>
document.getElementById('r').addEventListener('load', () => {{
  const d = document.getElementById('r').contentDocument.documentElement;
  document.body.setAttribute('data-widths', d.clientWidth + ':' + d.scrollWidth); }});
</script></body></html>"""
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # git-ignored, kept by CI


@pytest.mark.parametrize("width", [1280, 390])
def test_the_report_fits_the_width_without_horizontal_scrolling(
    report_url: str, tmp_path: Path, width: int
) -> None:
    """At a desktop's 1280 px and a phone's 390 px the page is no wider than its viewport
    (wide tables scroll in their own boxes, charts shrink); the screenshots are kept in
    tests/artifacts/ for a reader to look at."""
    frame = tmp_path / "frame.html"
    frame.write_text(FRAME.format(src=report_url, width=width))
    args = ["--allow-file-access-from-files", "--window-size=1400,1000",
            "--virtual-time-budget=3000", "--dump-dom", frame.as_uri()]  # fmt: skip
    dom, err = run_chromium(args, tmp_path / "profile")
    assert not console_problems(err), console_problems(err)
    client, scroll = (int(x) for x in dom.split('data-widths="', 1)[1].split('"', 1)[0].split(":"))
    assert client == width and scroll <= client, (width, client, scroll)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"report-{width}px.png"
    shot.unlink(missing_ok=True)
    shot_frame = tmp_path / "shot.html"
    shot_frame.write_text(FRAME.format(src=report_url, width=width).replace("900px", "2400px"))
    run_chromium(["--allow-file-access-from-files", f"--window-size={max(width, 500)},2400",
                  f"--screenshot={shot}", shot_frame.as_uri()], tmp_path / "profile-shot")  # fmt: skip
    with Image.open(shot) as img:
        assert img.size == (max(width, 500), 2400)
        assert ImageStat.Stat(img.convert("L")).stddev[0] > 10, "screenshot is (nearly) blank"


def test_the_report_of_a_default_run_weighs_at_most_400_kb(report_url: str) -> None:
    """run_small is a default comparison's report (two variants, every chart of it)."""
    size = Path(report_url.removeprefix("file://")).stat().st_size
    assert size <= 400 * 1024, size
