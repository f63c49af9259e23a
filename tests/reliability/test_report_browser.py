"""report.html in a real browser: headless Chromium opens real job reports from ``file://``.

Two real jobs run on tiny built-in data: the quick demo's ``video`` section (a
lossless H.264 ``rois.mp4``, an embedded figure, a sub-job with its own report)
and ``v1 reconstruct`` with the simulator's own population on a tiny simulated
mouse (a lossy H.264 ``comparison.mp4``, an animated ``comparison.gif``, embedded
figures, a table). Their reports, the sub-job's report and a page merging both
jobs are opened in headless Chromium; the page must log no console errors, every
``<img>`` must have decoded (``complete``, ``naturalWidth > 0``) and every
``<video>`` must have loaded its first frame (``readyState >= 2``,
``videoWidth > 0``). A screenshot of each page is taken.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them)
and ``selenium``; skipped with a message naming what is missing otherwise.
"""

from __future__ import annotations

import importlib.util
import shutil
import struct
import tempfile
import time
from pathlib import Path

import pytest

CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1280, 1000)
VIDEO_TIMEOUT_S = 20.0


def _chromedriver() -> str | None:
    if Path(CHROMEDRIVER).is_file():
        return CHROMEDRIVER
    return shutil.which("chromedriver")


def _missing() -> list[str]:
    missing = []
    if shutil.which("chromium") is None:
        missing.append("the chromium browser (`apt-get install chromium chromium-driver`)")
    if _chromedriver() is None:
        missing.append(f"chromedriver at {CHROMEDRIVER} (`apt-get install chromium-driver`)")
    if importlib.util.find_spec("selenium") is None:
        missing.append("the selenium package (`pip install selenium`)")
    return missing


_MISSING = _missing()
pytestmark = pytest.mark.skipif(
    bool(_MISSING),
    reason="browser test of report.html needs " + "; ".join(_MISSING) + " (.ci/run installs them as root on Debian)",
)

# page -> (at least this many <img>, at least this many <video>, an animated GIF among the images)
PAGES = {
    "demo/report.html": (1, 1, False),
    "demo/index.html": (3, 1, False),  # figures linked by path, the motion part's figures included
    "demo/video/motion/report.html": (1, 0, False),
    "v1/report.html": (3, 1, True),
    "merged.html": (4, 2, True),
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """Real job folders (demo video section, v1 reconstruct) and a page merging both, under one root."""
    import torch

    from neurocine.demo import run_demo
    from neurocine.report.html import merge_reports
    from neurocine.v1.jobs import run_reconstruct, run_simulate

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("reports")
        run_demo(root / "demo", quick=True, only=["video"])
        run_simulate(
            root / "mouse",
            seed=0,
            n_neurons=100,
            n_train=2,
            n_oracle=1,
            oracle_repeats=2,
            n_test=1,
            test_repeats=2,
            n_frames=52,
            n_calibration=2,
            ceiling=0.5,
        )
        run_reconstruct(
            root / "mouse",
            None,
            root / "v1",
            truth_model=True,
            n_trials=1,
            method="adam",
            iterations=2,
            coarse_to_fine=1,
            holdout=0.1,
            error_maps=False,
            device="cpu",
        )
        merge_reports([root / "demo", root / "v1"], root / "merged.html")
    finally:
        torch.set_num_threads(threads)
    for page in PAGES:
        assert (root / page).is_file(), page
    return root


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="neurocine-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = None
    try:
        # an explicit driver path: Selenium Manager (which downloads drivers) is never used
        driver = webdriver.Chrome(service=Service(_chromedriver()), options=options)
        driver.set_page_load_timeout(30)
        # the viewport (what a screenshot shows) exactly WINDOW at one pixel per CSS pixel, whatever the frame
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False},
        )
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


_MEDIA_STATE = """
return {
  ready: document.readyState,
  images: Array.from(document.images).map(i => ({src: i.getAttribute('src').slice(0, 60), alt: i.alt,
                                                  complete: i.complete, width: i.naturalWidth})),
  videos: Array.from(document.querySelectorAll('video')).map(v => ({src: v.getAttribute('src'),
      readyState: v.readyState, networkState: v.networkState, width: v.videoWidth, height: v.videoHeight,
      duration: v.duration, error: v.error ? v.error.code + ' ' + v.error.message : null})),
};
"""


def _loaded(state: dict) -> bool:
    return (
        state["ready"] == "complete"
        and all(i["complete"] for i in state["images"])
        and all(v["readyState"] >= 2 or v["error"] for v in state["videos"])
    )


def _wait_for_media(driver) -> dict:
    """The page's media state once every image and video has loaded (or failed), or after the timeout."""
    deadline = time.monotonic() + VIDEO_TIMEOUT_S
    reloaded = False
    while True:
        state = driver.execute_script(_MEDIA_STATE)
        if _loaded(state) or time.monotonic() > deadline:
            return state
        if not reloaded and time.monotonic() > deadline - VIDEO_TIMEOUT_S / 2:
            # a video that never started fetching (readyState 0, no error): ask for it once more
            driver.execute_script(
                "document.querySelectorAll('video').forEach(v => { if (v.readyState < 2 && !v.error) v.load(); });"
            )
            reloaded = True
        time.sleep(0.2)


def _png_size(path: Path) -> tuple[int, int]:
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR", f"{path}: not a PNG"
    return struct.unpack(">II", raw[16:24])


@pytest.mark.parametrize("page", list(PAGES))
def test_report_page_loads_every_figure_and_video(reports, browser, page, tmp_path):
    """No console errors, every image decoded, every video playable (first frame decoded); a screenshot."""
    min_images, min_videos, gif = PAGES[page]
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get((reports / page).as_uri())
    state = _wait_for_media(browser)
    logs = browser.get_log("browser")

    severe = [f"{e.get('source', '')}: {e['message']}" for e in logs if e.get("level") == "SEVERE"]
    assert not severe, f"{page}: console errors:\n" + "\n".join(severe)
    assert state["ready"] == "complete", f"{page}: document.readyState is {state['ready']!r}"

    images, videos = state["images"], state["videos"]
    assert len(images) >= min_images, f"{page}: {len(images)} <img>, expected at least {min_images}"
    assert len(videos) >= min_videos, f"{page}: {len(videos)} <video>, expected at least {min_videos}"
    if gif:
        assert any(i["src"].endswith(".gif") for i in images), f"{page}: no GIF among {images}"
    broken = [i for i in images if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"{page}: images that did not load: {broken}"
    unplayable = [
        v
        for v in videos
        if not (
            v["readyState"] >= 2
            and v["width"] > 0
            and v["height"] > 0
            and (v["duration"] or 0) > 0
            and v["error"] is None
        )
    ]
    assert not unplayable, f"{page}: videos without a decoded frame after {VIDEO_TIMEOUT_S:g} s: {unplayable}"

    shot = tmp_path / (page.replace("/", "_").removesuffix(".html") + ".png")
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 5_000, f"{shot}: {shot.stat().st_size} bytes, expected a rendered page"
    viewport = browser.execute_script("return [window.innerWidth, window.innerHeight]")
    assert _png_size(shot) == tuple(viewport) == WINDOW, f"{shot}: not the {WINDOW} viewport"
