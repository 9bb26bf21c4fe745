"""Export a model folder as a TensorFlow SavedModel for TensorFlow Serving (core/serving/saved_model.py).

    python -m core.cli.export OUT_DIR [--model DIR]

OUT_DIR must be new or empty. For TensorFlow Serving, name a numbered version folder, e.g. exports/chest_xray/1
(deploy/compose.yaml serves exports/chest_xray). Exits 2, with one line on stderr, when it cannot write there.
"""
import argparse
import sys
from pathlib import Path

import tensorflow as tf

from core.model.bundle import DEFAULT_MODEL_DIR, ModelLoadError, load_bundle
from core.serving.saved_model import METADATA_FILE, SIGNATURE, ExportError, export_saved_model, prepare_out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.cli.export", description="Export a model as a TensorFlow SavedModel.")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="a new or empty folder, e.g. exports/chest_xray/1")
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR), help="model folder (default: models/default)")
    args = parser.parse_args(argv)
    try:
        prepare_out_dir(args.out_dir)  # before loading the model, so a bad folder is named at once
        out_dir = export_saved_model(load_bundle(args.model), args.out_dir)
    except (ExportError, ModelLoadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (OSError, tf.errors.OpError) as err:
        print(f"error: could not write the export to {args.out_dir}: {getattr(err, 'strerror', None) or err}", file=sys.stderr)
        return 2
    print(f"Wrote {out_dir}: signature {SIGNATURE!r}; input, thresholds and classes in assets.extra/{METADATA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
