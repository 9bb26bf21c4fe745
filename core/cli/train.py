"""Train a chest X-ray classifier and write its model folder.

    python -m core.cli.train DATA_DIR --out models/NAME [--backbone mobilenet_v2|resnet50|small_cnn]
        [--epochs N] [--img-size N] [--folds K] [--restyled-copies N] [--intensity none|clahe] [--seed S]
"""
import argparse
import sys

from core.classes import LABEL_NAMES
from core.data.folders import DatasetError
from core.imaging.preprocess import INTENSITY_METHODS
from core.model.backbones import BACKBONES, DEFAULT_BACKBONE, WeightsUnavailableError
from core.model.training import DEFAULT_EPOCHS, DEFAULT_IMG_SIZE, Recipe, train


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m core.cli.train", description="Train a chest X-ray classifier.")
    parser.add_argument("data_dir", help="folder with one subfolder per label (" + ", ".join(LABEL_NAMES)
                        + "), optionally with a manifest.csv giving each image's source and patient")
    parser.add_argument("--out", required=True, help="output model folder, e.g. models/default")
    parser.add_argument("--backbone", choices=BACKBONES, default=DEFAULT_BACKBONE)
    parser.add_argument("--epochs", type=int, help="epochs per fit (default depends on the backbone)")
    parser.add_argument("--img-size", type=int, help="square input size in pixels (default depends on the backbone)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (at least 2)")
    parser.add_argument("--restyled-copies", type=int, default=Recipe.restyled_copies,
                        help="extra training copies of each image restyled as another source might make it (frozen backbones)")
    parser.add_argument("--intensity", choices=INTENSITY_METHODS, default=Recipe.intensity,
                        help="per-image intensity normalisation before the network (default: clahe)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    args.epochs = args.epochs or DEFAULT_EPOCHS[args.backbone]
    args.img_size = args.img_size or DEFAULT_IMG_SIZE[args.backbone]
    args.argv = argv
    if args.folds < 2 or args.epochs < 1 or args.img_size < 32 or args.restyled_copies < 0:
        parser.error("--folds must be at least 2, --epochs at least 1, --img-size at least 32 and --restyled-copies at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        card = train(args)
    except (DatasetError, WeightsUnavailableError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    cv = card.cross_validation
    print(f"wrote {args.out}: grouped CV accuracy {cv['accuracy']['mean']:.3f} ± {cv['accuracy']['std']:.3f}, "
          f"macro-F1 {cv['macro_f1']['mean']:.3f} ± {cv['macro_f1']['std']:.3f}")
    if card.loso_accuracy is not None:
        loso = card.validation["leave_one_source_out"]
        h = loso["headline"]
        print(f"leave one source out: accuracy {loso['accuracy']:.3f}; adult non-COVID-19 called COVID-19 "
              f"{h['adult_non_covid19_called_covid19']:.1%}; COVID-19 recall {h['covid19_recall']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
