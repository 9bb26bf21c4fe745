"""The layers of core/ hold (contracts in pyproject.toml): imaging and data never import the model or serving,
teaching never imports serving, nothing below training imports it, and core never imports streamlit."""
import shutil
import subprocess
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    run = subprocess.run([shutil.which("lint-imports") or "lint-imports", "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:]
    assert all(f"{c['name']} KEPT" in run.stdout for c in contracts), run.stdout[-3000:]
