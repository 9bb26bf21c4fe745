"""The layers of core/ hold (contracts in pyproject.toml): imaging and data never import the model or serving,
teaching never imports serving, nothing below training imports it, core never imports streamlit, and every room of
core has its place in one stack of layers; and an import that crosses a contract breaks it."""
import os
import shutil
import subprocess
import tomllib

from core.paths import REPO_ROOT as REPO


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


def test_a_forbidden_import_breaks_the_contracts_it_crosses_and_only_those(tmp_path):
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    shutil.copytree(REPO / "core", tmp_path / "core", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    (tmp_path / "core" / "imaging" / "shortcut.py").write_text("import streamlit\n\nfrom core.serving import classifier\n")
    run = subprocess.run([shutil.which("lint-imports") or "lint-imports", "--no-cache"], cwd=tmp_path,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert run.returncode != 0, run.stdout[-3000:]
    broken = {c["name"] for c in contracts if f"{c['name']} BROKEN" in run.stdout}
    kept = {c["name"] for c in contracts if f"{c['name']} KEPT" in run.stdout}
    crossed = {"imaging and data never reach the model or serving", "core never imports streamlit",
               "the rooms of core stack in layers"}
    assert crossed <= broken, run.stdout[-3000:]
    assert "teaching never imports serving" in kept and kept | broken == {c["name"] for c in contracts}
