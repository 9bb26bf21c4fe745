"""Sessions without a browser, for measuring what many first pages cost the server when the browsers run on other
machines (as a class's do) rather than on the server's own two cores.

A light client fetches the files a chromium page fetched when it opened the app, then runs the page over Streamlit's
websocket as the browser's JavaScript does (a `rerun_script` BackMsg; ForwardMsgs until `script_finished`), and draws
nothing. Its page is ready when a delta carries the text the browser waits for.
"""
import asyncio
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import websockets
from playwright.sync_api import Browser
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

BROWSER_CONNECTIONS = 6  # parallel HTTP/1.1 connections a browser opens to one host
TIMEOUT_S = 180


def files_a_browser_fetches(browser: Browser, url: str, ready_text: str) -> list[str]:
    """The URLs (on the app's own host) one fresh chromium page requests until `ready_text` is visible."""
    page = browser.new_page()
    try:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url) if request.method == "GET" else None)
        page.goto(url, wait_until="commit")
        page.get_by_text(ready_text).first.wait_for(timeout=TIMEOUT_S * 1000)
        page.wait_for_load_state("networkidle")
    finally:
        page.close()
    host = urlsplit(url).netloc
    return list(dict.fromkeys(u for u in requested if urlsplit(u).netloc == host and urlsplit(u).scheme == "http"))


def fetch(url: str) -> int:
    """GET `url` as a browser would, and return how many bytes came back."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return len(response.read())


async def run_first_page(url: str, ready_text: bytes) -> bool:
    """Run the app's first page over its websocket; whether a delta carried `ready_text` before the run finished."""
    rerun = BackMsg()
    rerun.rerun_script.page_script_hash = ""  # the default page, as a browser opening the app's address asks
    ready = False
    async with websockets.connect(url.replace("http", "ws", 1) + "/_stcore/stream", subprotocols=["streamlit"],
                                  origin=url, max_size=None, open_timeout=TIMEOUT_S) as stream:
        await stream.send(rerun.SerializeToString())
        async for frame in stream:
            message = ForwardMsg.FromString(frame)
            ready = ready or (message.WhichOneof("type") == "delta" and ready_text in frame)
            if message.WhichOneof("type") == "script_finished":
                return ready
    return False


async def fetch_as_a_browser(files: list[str]) -> None:
    """GET `files` over at most `BROWSER_CONNECTIONS` connections at a time, as one browser tab does."""
    connections = asyncio.Semaphore(BROWSER_CONNECTIONS)

    async def fetch_one(file: str) -> None:
        async with connections:
            await asyncio.to_thread(fetch, file)

    await asyncio.gather(*(fetch_one(file) for file in files))


async def first_page_seconds(url: str, files: list[str], ready_text: bytes) -> float | None:
    """Seconds until one light client's first page is ready (None if it failed or never showed `ready_text`)."""
    start = time.perf_counter()
    try:
        await fetch_as_a_browser(files)
        ready = await asyncio.wait_for(run_first_page(url, ready_text), TIMEOUT_S)
    except (OSError, TimeoutError, websockets.WebSocketException):
        return None
    return time.perf_counter() - start if ready else None


async def first_pages(url: str, files: list[str], ready_text: bytes, sessions: int) -> list[float | None]:
    """`sessions` light clients opening the app together: each one's seconds to its first page (None: failed)."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(BROWSER_CONNECTIONS * sessions))
    return await asyncio.gather(*(first_page_seconds(url, files, ready_text) for _ in range(sessions)))


def first_pages_at_once(url: str, files: list[str], ready_text: str, sessions: int) -> tuple[list[float], int, float]:
    """`sessions` light clients open the app at the same moment: the seconds each took to its ready first page, how
    many failed, and the CPU seconds the clients themselves spent (on the same cores as the server). The clients run
    on an event loop of their own thread, so that a caller's loop (Playwright's) does not stand in the way."""
    before = time.process_time()
    with ThreadPoolExecutor(1) as loop_thread:
        results = loop_thread.submit(asyncio.run, first_pages(url, files, ready_text.encode(), sessions)).result()
    seconds = [s for s in results if s is not None]
    return seconds, len(results) - len(seconds), time.process_time() - before
