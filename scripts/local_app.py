"""`streamlit run server.py` on a free localhost port, what its upload store holds, and Debian's chromium flags: for the
browser tests and benchmarks."""
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# Headless, and no background connections: this machine's closed network refuses them.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(url: str, server: subprocess.Popen, log: Path, timeout: float) -> None:
    """Return once Streamlit answers its health check; raise with the server's log if it dies or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"streamlit did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


@contextmanager
def running_app(log: Path, timeout: float = 120) -> Iterator[str]:
    """Start the app, yield its URL once healthy, and stop it afterwards; its output goes to `log`."""
    with running_server(log, timeout) as (url, _):
        yield url


@contextmanager
def running_server(log: Path, timeout: float = 120, env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """running_app, yielding the server process too (its pid is the Streamlit server's); `env` replaces the environment."""
    url = f"http://127.0.0.1:{free_port()}"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", url.rsplit(":", 1)[1],
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until_healthy(url, server, log, timeout)
        yield url, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def held_bytes(url: str) -> dict[str, float]:
    """What the running server's stores hold for all sessions, by Streamlit's cache type (UploadedFileManager,
    st_memory_media_file_storage, st_session_state, st_cache_data...), from Streamlit's own metrics."""
    with urllib.request.urlopen(f"{url}/_stcore/metrics?families=cache_memory_bytes", timeout=10) as response:
        lines = response.read().decode().splitlines()
    held: dict[str, float] = {}
    for line in lines:
        if 'cache_type="' in line:
            cache_type = line.split('cache_type="', 1)[1].split('"', 1)[0]
            held[cache_type] = held.get(cache_type, 0.0) + float(line.rsplit(" ", 1)[1])
    return held


def upload_store_bytes(url: str) -> float:
    """What the running server's upload store holds for all sessions."""
    return held_bytes(url).get("UploadedFileManager", 0.0)
