"""Time the app as a user meets it, and measure what uploads cost the server.

    python -m scripts.benchmark_app [--json] [--measure start cpu sessions pages light-pages memory zip] [--uploads N]
                                    [--images A B] [--sessions N] [--first-pages N] [--dicoms N] [--dicom-side PX]
                                    [--memory-sessions N] [--settle S]

Starts `streamlit run server.py` on a free localhost port and drives Debian's chromium with Playwright. Measurements
(`--measure`; all but zip by default):
- start: cold start, from starting the server process until the Diagnose page's title is visible (and, separately,
  until the model has loaded and the threshold slider is shown); the first upload the server handles, 10 s after it
  was started (or as soon as that first page is ready, if later); then upload
  to result, from `set_input_files` until the decision text is visible, with the model warm, each upload in a fresh
  tab (a fresh Streamlit session, so nothing is cached), alternating two X-rays; the median is reported.
- cpu: the server's CPU seconds (all threads, /proc/<pid>/stat) per upload, each in a fresh session whose page has
  finished loading, from the file being handed over until the result is shown and the script run has finished.
- sessions: N browser sessions (default 16) choose a file at the same moment; seconds from each one's file being
  handed over until its decision is visible (slowest, median, failures), and the memory peak over the level before.
- pages: N fresh sessions (default 30) open the app at once; seconds until each page is drawn with its model, and
  the server's CPU seconds per first page (all N drawn, over N).
- light-pages: the same N first pages opened at once by light clients (scripts/light_clients.py): each fetches the
  files a chromium page fetched when it opened the app and runs the page over Streamlit's websocket, drawing nothing,
  so that the clients' rendering does not share the server's cores (a class's browsers run on the students' machines);
  seconds until each page's model panel text has arrived, the server's CPU per first page, and the clients' own CPU.
- memory: the Streamlit server's resident memory (VmRSS of /proc/<pid>/status; peaks by VmHWM, reset through
  /proc/<pid>/clear_refs) over a long session: sessions in turn (default 10) each upload large DICOMs (default 5 of
  4900 × 4900 12-bit pixels, 48 MB each, built in a temporary folder from a shared X-ray) one after another and
  close; then after their tabs closed, and once Streamlit has dropped every closed session; with what Streamlit's
  stores hold (its /_stcore/metrics: uploads, media, session state, st.cache_data).
- zip: the peak above the level before while Model performance evaluates a ZIP of 8 all-black 7745 × 7745 PNGs (the
  most pixels the pixel budget accepts) and refuses one of 60 (issue 14's 3.5 MB ZIP).
"""
import argparse
import contextlib
import io
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

from core.paths import TEACHING_DATASET as DATASET
from core.serving.answers import WORDS
from core.serving.diagnosis import MAX_KEPT
from scripts.light_clients import files_a_browser_fetches, first_pages_at_once
from scripts.local_app import CHROMIUM, CHROMIUM_ARGS, held_bytes, running_server, upload_store_bytes

DEFAULT_IMAGES = (DATASET / "normal" / "IM-0115-0001.jpeg", DATASET / "viral_pneumonia" / "person100_virus_184.jpeg")
ANSWER = '[data-testid="stMain"] h4'  # the answer panel's headlines, e.g. "Unlikely · 4.0 %"
ANSWERED = "^(" + "|".join(map(re.escape, (w.capitalize() for w in WORDS.values()))) + ") · "
READY = ('[data-testid="stExpander"]', "Who this model was validated on")  # drawn once the model is loaded
TIMEOUT_MS = 180_000
MEASUREMENTS = ("start", "cpu", "sessions", "pages", "light-pages", "memory", "zip")
MB = 2**20
BLANK_SIDE = 7745  # an all-black PNG this size is 60 million pixels in about 60 kB
NEXT_VISITOR_WAIT_S = 30  # after a next visitor's tab closed, before memory is read again
SESSION_TTL_S = 120  # server.disconnectedSessionTTL: how long Streamlit keeps a closed tab's session
WARM_SERVER_S = 10  # the first upload is timed on a server started this long ago, or once its first page is ready (issue 11)
# True once a visible element matching the selector has text matching the pattern; polled on every animation frame.
VISIBLE_TEXT_JS = """([selector, pattern]) => [...document.querySelectorAll(selector)].some(
    e => e.getClientRects().length > 0 && new RegExp(pattern).test(e.innerText.trim()))"""
# Records in the page the time (ms since the epoch) at which a visible element matching the selector first has text
# matching the pattern. A MutationObserver, not animation frames: those pause in a tab that is not in front. It
# watches the document, not its body, so that it also works as an init script, before the body exists.
RECORD_RESULT_TIME_JS = """([selector, pattern]) => {
    const shown = () => [...document.querySelectorAll(selector)].some(
        e => e.getClientRects().length > 0 && new RegExp(pattern).test(e.innerText.trim()));
    window.resultAt = null;
    const observer = new MutationObserver(() => {
        if (shown()) { window.resultAt = Date.now(); observer.disconnect(); }
    });
    observer.observe(document, {childList: true, subtree: true, characterData: true, attributes: true});
}"""


def wait_for_text(page: Page, selector: str, pattern: str) -> None:
    page.wait_for_function(VISIBLE_TEXT_JS, arg=[selector, pattern], polling="raf", timeout=TIMEOUT_MS)


def open_diagnose(browser: Browser, url: str) -> Page:
    """A fresh tab (a fresh Streamlit session) on the Diagnose page, ready for an upload."""
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(url)
    wait_for_text(page, *READY)
    return page


def upload_seconds(browser: Browser, url: str, image: Path) -> float:
    """Seconds from handing the file to the uploader until the decision text is visible."""
    page = open_diagnose(browser, url)
    try:
        start = time.perf_counter()
        page.locator('input[type="file"]').set_input_files(str(image))
        wait_for_text(page, ANSWER, ANSWERED)
        return time.perf_counter() - start
    finally:
        page.close()


# ----------------------------------------------------------------------------- the server's memory

def status_mb(pid: int, field: str) -> float:
    """A memory figure of process `pid` from /proc/<pid>/status (VmRSS: resident now; VmHWM: peak), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def reset_peak(pid: int) -> None:
    """Start VmHWM (the peak resident memory) again from the present resident memory."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def large_dicoms(folder: Path, source: Path, count: int, side: int) -> list[Path]:
    """`count` uncompressed 12-bit DX DICOMs of side × side pixels (2 side² bytes of pixels each): the X-ray `source`
    scaled up, with its own noise in each, so that no two files are the same."""
    with Image.open(source) as image:
        grey = np.asarray(image.convert("L").resize((side, side), Image.Resampling.BILINEAR), dtype=np.uint16) * 16
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = DigitalXRayImageStorageForPresentation, generate_uid()
        ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "DX", "CHEST", "PA"
        ds.set_pixel_data(grey + rng.integers(0, 16, grey.shape, dtype=np.uint16), "MONOCHROME2", 12)
        ds.WindowCenter, ds.WindowWidth = 2048, 4096
        paths.append(folder / f"chest_{i + 1:02d}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    return paths


def wait_for_results(page: Page, count: int) -> None:
    """Until the Diagnose page shows `count` results (the page keeps MAX_KEPT), the decision for one, else the
    summary's heading, and its script run has finished (until then the emptied uploader's old input is still there)."""
    if count == 1:
        wait_for_text(page, ANSWER, ANSWERED)
    else:
        wait_for_text(page, "h3", f"^{min(count, MAX_KEPT)} films$")
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=TIMEOUT_MS)


def upload_memory(browser: Browser, url: str, pid: int, source: Path, files: int, side: int, sessions: int,
                  settle_s: float) -> dict:
    """Sessions in turn each upload `files` large DICOMs one after another (as a user adds files) and close; memory
    before, after each session's uploads (and its peak), `settle_s` after the last tab closed, and NEXT_VISITOR_WAIT_S
    after a next visitor's tab opened and closed once the last tab had been closed SESSION_TTL_S: Streamlit keeps a
    closed tab's session that long and drops it only when another session disconnects after that."""
    figures = {"dicom_files": files, "dicom_mb": round(2 * side * side / 1e6, 1),  # file sizes in decimal MB
               "idle_rss_mb": status_mb(pid, "VmRSS")}
    with tempfile.TemporaryDirectory(prefix="benchmark_dicoms_") as folder:
        paths = large_dicoms(Path(folder), source, files, side)
        figures["memory_sessions"] = []
        for _ in range(sessions):
            page = open_diagnose(browser, url)
            reset_peak(pid)
            seconds = []
            for count, path in enumerate(paths, start=1):
                start = time.perf_counter()
                page.locator('input[type="file"]').set_input_files(str(path))
                wait_for_results(page, count)
                seconds.append(time.perf_counter() - start)
            figures["memory_sessions"].append({"rss_mb": status_mb(pid, "VmRSS"), "peak_rss_mb": status_mb(pid, "VmHWM"),
                                               "upload_store_mb": upload_store_bytes(url) / MB, "upload_to_result_s": seconds})
            page.close()
    closed_at = time.monotonic()
    time.sleep(settle_s)
    figures["closed_rss_mb"], figures["closed_upload_store_mb"] = status_mb(pid, "VmRSS"), upload_store_bytes(url) / MB
    time.sleep(max(0.0, closed_at + SESSION_TTL_S + 1 - time.monotonic()))
    open_diagnose(browser, url).close()  # its disconnect makes Streamlit drop every closed session
    time.sleep(NEXT_VISITOR_WAIT_S)
    figures["next_visitor_rss_mb"] = status_mb(pid, "VmRSS")
    figures["next_visitor_held_mb"] = {name: held / MB for name, held in held_bytes(url).items()}
    return figures


# ----------------------------------------------------------------------------- sessions at once, and ZIPs

def server_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) process `pid` has used, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_upload(browser: Browser, url: str, pid: int, images: tuple[Path, Path], uploads: int) -> dict:
    """The server's CPU seconds for each upload (in a fresh session, the page already drawn and its scripts all sent:
    until then the server is still streaming the page's 0.03-0.09 s of script files), from the file being handed over
    until the result is shown and the script run has finished: decoding, the model, the page's reruns."""
    seconds = []
    for i in range(uploads):
        page = open_diagnose(browser, url)
        try:
            page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=TIMEOUT_MS)
            page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
            before = server_cpu_s(pid)
            page.locator('input[type="file"]').set_input_files(str(images[i % 2]))
            wait_for_results(page, 1)
            seconds.append(server_cpu_s(pid) - before)
        finally:
            page.close()
    return {"server_cpu_per_upload_s": seconds}


def simultaneous_uploads(browser: Browser, url: str, pid: int, images: tuple[Path, Path], sessions: int) -> dict:
    """`sessions` browser sessions (each page in its own browser context: no shared cookies) on Diagnose choose their
    file at the same moment; seconds from each one's file being handed over until its decision is visible (a session
    whose result never came is a failure), and the server's memory peak over its level before."""
    pages: list[Page] = []
    failures = 0
    try:
        for _ in range(sessions):
            pages.append(open_diagnose(browser, url))
        for page in pages:
            page.evaluate(RECORD_RESULT_TIME_JS, [ANSWER, ANSWERED])
        before = status_mb(pid, "VmRSS")
        reset_peak(pid)
        chosen_at = []
        for i, page in enumerate(pages):  # each call returns once the browser has the file: the uploads overlap
            chosen_at.append(time.time() * 1000)
            page.locator('input[type="file"]').set_input_files(str(images[i % 2]))
        seconds, missed = seconds_until_recorded(pages, chosen_at)
        failures += missed
    finally:
        for page in pages:
            page.close()
    return {"simultaneous_sessions": sessions, "simultaneous_result_s": seconds, "simultaneous_failures": failures,
            "simultaneous_peak_extra_mb": status_mb(pid, "VmHWM") - before}


def seconds_until_recorded(pages: list, started_ms: list[float]) -> tuple[list[float], int]:
    """Seconds from each start until its page recorded `window.resultAt`, and how many pages never did."""
    seconds, failures = [], 0
    for page, start in zip(pages, started_ms, strict=True):
        try:
            page.wait_for_function("() => window.resultAt", timeout=TIMEOUT_MS)
            seconds.append((page.evaluate("window.resultAt") - start) / 1000)
        except PlaywrightError:
            failures += 1
    return seconds, failures


def simultaneous_first_pages(browser: Browser, url: str, pid: int, sessions: int) -> dict:
    """`sessions` fresh browser sessions open the app at once: seconds from the request until the Diagnose page is
    drawn with its model (each page records the moment in itself, so that none waits on another's measurement), and
    the server's CPU seconds per page until all are drawn and their script runs have finished."""
    pages = [browser.new_page(viewport={"width": 1400, "height": 1600}) for _ in range(sessions)]
    try:
        for page in pages:
            page.add_init_script(f"({RECORD_RESULT_TIME_JS})({json.dumps(list(READY))})")
        before, opened_at = server_cpu_s(pid), []
        for page in pages:
            opened_at.append(time.time() * 1000)
            page.goto(url, wait_until="commit")
        seconds, failures = seconds_until_recorded(pages, opened_at)
        for page in pages:
            with contextlib.suppress(PlaywrightError):  # a failed page is counted above
                page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=TIMEOUT_MS)
        cpu_s = (server_cpu_s(pid) - before) / sessions
    finally:
        for page in pages:
            page.close()
    return {"first_page_sessions": sessions, "first_page_s": seconds, "first_page_failures": failures,
            "first_page_server_cpu_s": cpu_s}


def light_first_pages(browser: Browser, url: str, pid: int, sessions: int) -> dict:
    """simultaneous_first_pages with light clients instead of chromium pages."""
    files = files_a_browser_fetches(browser, url, READY[1])
    before = server_cpu_s(pid)
    seconds, failures, client_cpu_s = first_pages_at_once(url, files, READY[1], sessions)
    return {"light_sessions": sessions, "light_files": len(files), "light_first_page_s": seconds,
            "light_failures": failures, "light_server_cpu_s": (server_cpu_s(pid) - before) / sessions,
            "light_client_cpu_s": client_cpu_s}


def blank_png_zip(members: int) -> bytes:
    """A labelled ZIP of `members` all-black BLANK_SIDE² PNGs: a few MB that decode to 60 million pixels each."""
    png = io.BytesIO()
    Image.new("L", (BLANK_SIDE, BLANK_SIDE)).save(png, "PNG")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for i in range(members):
            zipped.writestr(f"normal/blank_{i:03d}.png", png.getvalue())
    return archive.getvalue()


def zip_memory(browser: Browser, url: str, pid: int) -> dict:
    """The peak resident memory above the level before while Model performance evaluates, or refuses, each ZIP."""
    figures = {}
    for members in (8, 60):
        data, page = blank_png_zip(members), browser.new_page(viewport={"width": 1400, "height": 1600})
        try:
            page.goto(url)
            page.get_by_test_id("stSidebarNavLink").filter(has_text="Model performance").click()
            page.get_by_role("tab", name="Evaluate your own images").click(timeout=TIMEOUT_MS)
            before = status_mb(pid, "VmRSS")
            reset_peak(pid)
            own = page.get_by_role("tabpanel").filter(has_text="Upload a ZIP with one folder per class")
            own.locator('input[type="file"]').set_input_files(
                files=[{"name": f"blank_{members}.zip", "mimeType": "application/zip", "buffer": data}])
            answer = own.get_by_test_id("stMetric").filter(has_text="Images evaluated").or_(own.get_by_text("Cannot evaluate"))
            answer.first.wait_for(timeout=TIMEOUT_MS)
            figures[f"zip_{members}_blank_pngs"] = {"zip_mb": round(len(data) / MB, 1), "rss_before_mb": before,
                                                    "peak_extra_mb": status_mb(pid, "VmHWM") - before,
                                                    "answer": answer.first.inner_text().replace("\n", " ")[:160]}
        finally:
            page.close()
    return figures


def cold_start(browser: Browser, url: str, start: float, images: tuple[Path, Path], uploads: int) -> dict:
    """Cold start (from `start`, when the server process was started) and upload-to-result timings."""
    healthy_s = time.perf_counter() - start
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(url)
    wait_for_text(page, "h1", "^Analyse an X-ray$")
    first_render_s = time.perf_counter() - start
    wait_for_text(page, *READY)
    model_ready_s = time.perf_counter() - start
    page.close()
    time.sleep(max(0.0, start + WARM_SERVER_S - time.perf_counter()))
    first_upload_at_s = time.perf_counter() - start
    first_upload_s = upload_seconds(browser, url, images[1])  # the first upload on this server, untimed below
    times = [upload_seconds(browser, url, images[i % 2]) for i in range(uploads)]
    return {
        "server_healthy_s": healthy_s, "first_render_s": first_render_s, "model_ready_s": model_ready_s,
        "first_paint_after_healthy_s": first_render_s - healthy_s,
        "first_upload_at_s": first_upload_at_s, "first_upload_s": first_upload_s,
        "upload_to_result_median_s": statistics.median(times), "upload_to_result_s": times,
    }


def run(args: argparse.Namespace) -> dict:
    """The measurements args.measure names, on one server, in the order of MEASUREMENTS."""
    log = Path(tempfile.mkdtemp(prefix="benchmark_app_")) / "server.log"
    images = tuple(args.images)
    figures = {"images": [path.name for path in images],
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        start = time.perf_counter()
        try:
            with running_server(log) as (url, server):
                if "start" in args.measure:
                    figures |= cold_start(browser, url, start, images, args.uploads)
                else:
                    upload_seconds(browser, url, images[1])  # the model warm, as after the timings
                if "cpu" in args.measure:
                    figures |= cpu_per_upload(browser, url, server.pid, images, args.uploads)
                if "sessions" in args.measure:
                    figures |= simultaneous_uploads(browser, url, server.pid, images, args.sessions)
                if "pages" in args.measure:
                    figures |= simultaneous_first_pages(browser, url, server.pid, args.first_pages)
                if "light-pages" in args.measure:
                    figures |= light_first_pages(browser, url, server.pid, args.first_pages)
                if "memory" in args.measure:
                    figures |= upload_memory(browser, url, server.pid, images[0], args.dicoms, args.dicom_side,
                                             args.memory_sessions, args.settle)
                if "zip" in args.measure:
                    figures |= zip_memory(browser, url, server.pid)
        finally:
            browser.close()
    return figures


def print_figures(figures: dict) -> None:
    if "first_render_s" in figures:
        print(f"cold start to first render (Diagnose title visible): {figures['first_render_s']:.2f} s "
              f"(server healthy {figures['server_healthy_s']:.2f} s, model loaded {figures['model_ready_s']:.2f} s)")
        print(f"first paint after the server answered: {figures['first_paint_after_healthy_s']:.2f} s (aim: at most 1.5 s)")
        print(f"first upload, {figures['first_upload_at_s']:.1f} s after the server was started, to its result: "
              f"{figures['first_upload_s']:.2f} s (aim: at most 1 s on a server started {WARM_SERVER_S} s earlier)")
        print(f"upload to result (decision visible, warm model): median {figures['upload_to_result_median_s']:.2f} s "
              f"over {len(figures['upload_to_result_s'])} uploads "
              f"({', '.join(f'{t:.2f}' for t in figures['upload_to_result_s'])} s)")
    if "server_cpu_per_upload_s" in figures:
        cpu = figures["server_cpu_per_upload_s"]
        print(f"server CPU per upload: median {statistics.median(cpu):.3f} s over {len(cpu)} uploads "
              f"({', '.join(f'{t:.3f}' for t in cpu)} s; aim: at most 0.15 s)")
    if "simultaneous_result_s" in figures:
        seconds = figures["simultaneous_result_s"] or [float("nan")]
        print(f"{figures['simultaneous_sessions']} sessions choosing a file at once, file chosen to result shown: slowest "
              f"{max(seconds):.2f} s, median {statistics.median(seconds):.2f} s, {figures['simultaneous_failures']} "
              f"failed, memory peak +{figures['simultaneous_peak_extra_mb']:.0f} MB "
              f"(aim: all within 10 s, median within 5 s, none failed, at most +1.5 GB)")
    if "first_page_s" in figures:
        seconds = figures["first_page_s"] or [float("nan")]
        print(f"{figures['first_page_sessions']} sessions opening the app at once, request to page drawn with its model: "
              f"slowest {max(seconds):.2f} s, median {statistics.median(seconds):.2f} s, {figures['first_page_failures']} "
              f"failed (aim: all within 10 s); server CPU {figures['first_page_server_cpu_s']:.3f} s per first page")
    if "light_first_page_s" in figures:
        seconds = figures["light_first_page_s"] or [float("nan")]
        print(f"{figures['light_sessions']} light clients (each fetching the {figures['light_files']} files a browser "
              f"fetched, then running the page over the websocket, drawing nothing) opening the app at once, request to "
              f"model panel received: slowest {max(seconds):.2f} s, median {statistics.median(seconds):.2f} s, "
              f"{figures['light_failures']} failed (aim: all within 10 s); server CPU "
              f"{figures['light_server_cpu_s']:.3f} s per first page; the clients' own CPU {figures['light_client_cpu_s']:.1f} s")
    if "idle_rss_mb" in figures:
        idle = figures["idle_rss_mb"]
        print(f"server memory: idle {idle:.0f} MB")
        for i, session in enumerate(figures["memory_sessions"], start=1):
            print(f"  session {i}, {figures['dicom_files']} DICOMs of {figures['dicom_mb']} MB uploaded one after another: "
                  f"+{session['rss_mb'] - idle:.0f} MB (peak +{session['peak_rss_mb'] - idle:.0f} MB; aim: at most "
                  f"+300 MB), Streamlit's upload store {session['upload_store_mb']:.0f} MB; upload to result median "
                  f"{statistics.median(session['upload_to_result_s']):.2f} s")
        held = ", ".join(f"{name} {mb:.0f} MB" for name, mb in figures["next_visitor_held_mb"].items()) or "nothing"
        print(f"  the tabs closed: +{figures['closed_rss_mb'] - idle:.0f} MB, upload store "
              f"{figures['closed_upload_store_mb']:.0f} MB; after Streamlit dropped their sessions (a next visitor "
              f"{SESSION_TTL_S} s later): +{figures['next_visitor_rss_mb'] - idle:.0f} MB (aim: within 300 MB of idle "
              f"after {len(figures['memory_sessions']) * figures['dicom_files']} uploads in "
              f"{len(figures['memory_sessions'])} sessions); Streamlit's stores hold {held}")
    for name, zipped in figures.items():
        if name.startswith("zip_"):
            print(f"{name} ({zipped['zip_mb']} MB): peak +{zipped['peak_extra_mb']:.0f} MB (aim: at most +1024 MB): "
                  f"{zipped['answer']}")
    print(f"machine: {figures['machine']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmark_app", description="Time the app in a real browser.")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--measure", nargs="+", choices=MEASUREMENTS, default=[m for m in MEASUREMENTS if m != "zip"],
                        help="which measurements to run (default: all but zip)")
    parser.add_argument("--uploads", type=int, default=5, help="timed uploads (after one warm-up)")
    parser.add_argument("--images", nargs=2, type=Path, default=DEFAULT_IMAGES, metavar=("A", "B"),
                        help="two X-ray files to alternate (default: two of ../shared's X-rays)")
    parser.add_argument("--sessions", type=int, default=16, help="browser sessions uploading at once")
    parser.add_argument("--first-pages", type=int, default=30, help="sessions opening the app at once (browsers, light clients)")
    parser.add_argument("--dicoms", type=int, default=5, help="large DICOMs each memory session uploads")
    parser.add_argument("--dicom-side", type=int, default=4900, help="their side in pixels (4900: 48 MB each)")
    parser.add_argument("--memory-sessions", type=int, default=10, help="sessions, one after another, uploading them")
    parser.add_argument("--settle", type=float, default=10, help="seconds to wait after the last tab closed "
                        "(Streamlit keeps a closed tab's session 120 s)")
    args = parser.parse_args(argv)
    missing = [str(path) for path in args.images if not path.is_file()] + ([CHROMIUM] if not Path(CHROMIUM).is_file() else [])
    if missing:
        print(f"error: not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        figures = run(args)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(figures))
    else:
        print_figures(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
