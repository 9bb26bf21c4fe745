"""Write assets/samples/: six openly licensed films from the multi-source set, downscaled, with ATTRIBUTION.md.

    python -m scripts.make_samples ../shared/datasets/chest_xray_multisource

For each (label, source) pair below, the first film in manifest order whose licence allows redistribution
(CC BY 3.0, CC BY 4.0, or NIH ChestX-ray8, which is public). The films are not picked by what the model says.
"""
import argparse
import csv
from pathlib import Path

from PIL import Image

from core.data.samples import ATTRIBUTION_FILE, SAMPLES_DIR

MAX_SIDE = 768
WANTED = (  # (label, source, file name, what a user reads)
    ("normal", "nih", "adult_healthy.png", "Adult, no finding"),
    ("pneumonia_unspecified", "nih", "adult_pneumonia.png", "Adult, pneumonia (bacterial or viral: not recorded)"),
    ("covid19", "hannover", "adult_covid19.png", "Adult, COVID-19"),
    ("normal", "kermany", "child_healthy.png", "Child (1-5 years), no finding"),
    ("bacterial_pneumonia", "kermany", "child_bacterial_pneumonia.png", "Child (1-5 years), bacterial pneumonia"),
    ("viral_pneumonia", "kermany", "child_viral_pneumonia.png", "Child (1-5 years), viral pneumonia"),
)
OPEN_LICENCES = ("CC BY 3.0", "CC BY 4.0", "NIH ChestX-ray8")
CITATIONS = {
    "nih": "Wang X. et al., ChestX-ray8, CVPR 2017; NIH Clinical Center (public)",
    "hannover": "Winther H.B. et al., COVID-19 Image Repository, Hannover Medical School, doi:10.25835/0090041",
    "kermany": "Kermany D.S. et al., Cell 172(5), 2018; Mendeley Data v2, doi:10.17632/rscbjbr9sj.2",
}


def pick(rows: list[dict], label: str, source: str) -> dict:
    return next(r for r in rows if r["label"] == label and r["source"] == source and r["licence"].startswith(OPEN_LICENCES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path)
    args = parser.parse_args()
    with open(args.data_dir / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    SAMPLES_DIR.mkdir(parents=True, exist_ok=True)
    lines = ["# Sample films", "",
             "Six frontal chest films to try the app without your own X-ray, downscaled to at most 768 px "
             "(`python -m scripts.make_samples`). All six are in the default model's training set, so its answers "
             "on them are not a test of the model.", "",
             "| file | label | source | licence | citation | original |", "|---|---|---|---|---|---|"]
    for label, source, name, description in WANTED:
        row = pick(rows, label, source)
        with Image.open(args.data_dir / row["file"]) as image:
            image = image.convert("L")
            image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            image.save(SAMPLES_DIR / name, optimize=True)
        lines.append(f"| {name} | {description} | {source} | {row['licence']} | {CITATIONS[source]} | `{row['origin']}` |")
    (SAMPLES_DIR / ATTRIBUTION_FILE).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
