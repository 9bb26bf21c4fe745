"""Time the app as a user meets it: cold start to first render, and a browser upload to its decision.

    python -m scripts.benchmark_app [--json] [--uploads N] [--images A B]

Starts `streamlit run app.py` on a free localhost port and drives Debian's chromium with Playwright:
- cold start: from starting the server process until the Diagnose page's title is visible (and, separately, until
  the model has loaded and the threshold slider is shown);
- first upload: the same, for the first upload the server ever handles (right after the model has loaded);
- upload to result: from `set_input_files` until the decision text is visible, with the model warm, each upload in
  a fresh tab (a fresh Streamlit session, so nothing is cached), alternating two X-rays; the median is reported.
"""
import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from core.classes import DISPLAY_NAMES
from core.model.abstention import STATUS_TEXT
from core.paths import TEACHING_DATASET as DATASET
from scripts.local_app import CHROMIUM, CHROMIUM_ARGS, running_app

DEFAULT_IMAGES = (DATASET / "normal" / "IM-0115-0001.jpeg", DATASET / "viral_pneumonia" / "person100_virus_184.jpeg")
DECISION = "^(" + "|".join(map(re.escape, (*STATUS_TEXT.values(), *DISPLAY_NAMES))) + "): "
TIMEOUT_MS = 180_000
# True once a visible element matching the selector has text matching the pattern; polled on every animation frame.
VISIBLE_TEXT_JS = """([selector, pattern]) => [...document.querySelectorAll(selector)].some(
    e => e.getClientRects().length > 0 && new RegExp(pattern).test(e.innerText.trim()))"""


def wait_for_text(page: Page, selector: str, pattern: str) -> None:
    page.wait_for_function(VISIBLE_TEXT_JS, arg=[selector, pattern], polling="raf", timeout=TIMEOUT_MS)


def open_diagnose(browser: Browser, url: str) -> Page:
    """A fresh tab (a fresh Streamlit session) on the Diagnose page, ready for an upload."""
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(url)
    wait_for_text(page, '[data-testid="stSlider"]', "^Decision threshold")
    return page


def upload_seconds(browser: Browser, url: str, image: Path) -> float:
    """Seconds from handing the file to the uploader until the decision text is visible."""
    page = open_diagnose(browser, url)
    try:
        start = time.perf_counter()
        page.locator('input[type="file"]').set_input_files(str(image))
        wait_for_text(page, '[data-testid="stAlert"]', DECISION)
        return time.perf_counter() - start
    finally:
        page.close()


def run(images: tuple[Path, Path], uploads: int) -> dict:
    log = Path(tempfile.mkdtemp(prefix="benchmark_app_")) / "server.log"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        start = time.perf_counter()
        try:
            with running_app(log) as url:
                healthy_s = time.perf_counter() - start
                page = browser.new_page(viewport={"width": 1400, "height": 1600})
                page.goto(url)
                wait_for_text(page, "h1", "^Diagnose$")
                first_render_s = time.perf_counter() - start
                wait_for_text(page, '[data-testid="stSlider"]', "^Decision threshold")
                model_ready_s = time.perf_counter() - start
                page.close()
                first_upload_s = upload_seconds(browser, url, images[1])  # the first upload on this server, untimed below
                times = [upload_seconds(browser, url, images[i % 2]) for i in range(uploads)]
        finally:
            browser.close()
    return {
        "server_healthy_s": healthy_s, "first_render_s": first_render_s, "model_ready_s": model_ready_s,
        "first_upload_s": first_upload_s, "upload_to_result_median_s": statistics.median(times), "upload_to_result_s": times,
        "images": [path.name for path in images],
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmark_app", description="Time the app in a real browser.")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--uploads", type=int, default=5, help="timed uploads (after one warm-up)")
    parser.add_argument("--images", nargs=2, type=Path, default=DEFAULT_IMAGES, metavar=("A", "B"),
                        help="two X-ray files to alternate (default: two of ../shared's X-rays)")
    args = parser.parse_args(argv)
    missing = [str(path) for path in args.images if not path.is_file()] + ([CHROMIUM] if not Path(CHROMIUM).is_file() else [])
    if missing:
        print(f"error: not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        figures = run(tuple(args.images), args.uploads)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"cold start to first render (Diagnose title visible): {figures['first_render_s']:.2f} s "
              f"(server healthy {figures['server_healthy_s']:.2f} s, model loaded {figures['model_ready_s']:.2f} s)")
        print(f"first upload on this server to its result: {figures['first_upload_s']:.2f} s")
        print(f"upload to result (decision visible, warm model): median {figures['upload_to_result_median_s']:.2f} s "
              f"over {len(figures['upload_to_result_s'])} uploads "
              f"({', '.join(f'{t:.2f}' for t in figures['upload_to_result_s'])} s)")
        print(f"machine: {figures['machine']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
