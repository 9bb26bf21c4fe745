"""The layers of core/ hold (contracts in pyproject.toml): imaging and data never import the model or serving,
teaching never imports serving, nothing below training imports it, core never imports streamlit, and every room of
core has its place in one stack of layers."""
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


def test_the_layers_contract_names_every_room_of_core():
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in contracts if c["type"] == "layers")
    named = {room.strip() for layer in layers for room in layer.split("|")}
    rooms = {f"core.{p.stem if p.is_file() else p.name}" for p in (REPO / "core").iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")}
    assert named == rooms
