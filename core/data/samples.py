"""The sample films in assets/samples/ that a user can try instead of uploading an X-ray."""
from pathlib import Path

from core.paths import SAMPLES_DIR

ATTRIBUTION_FILE = "ATTRIBUTION.md"


def sample_files() -> dict[str, Path]:
    """{"Adult healthy": path, ...} for every sample PNG, in name order (adults first)."""
    return {path.stem.replace("_", " ").capitalize().replace("covid19", "COVID-19"): path
            for path in sorted(SAMPLES_DIR.glob("*.png"))}


def read_sample(name: str) -> bytes:
    """The bytes of the named sample (names come from sample_files, never from a browser)."""
    return sample_files()[name].read_bytes()
