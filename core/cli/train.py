"""Train a chest X-ray classifier and write its model folder.

    python -m core.cli.train DATA_DIR --out models/NAME [--backbone mobilenet_v2|resnet50|small_cnn] [--epochs N]
        [--img-size N] [--folds K] [--restyled-copies N] [--intensity none|clahe] [--border-crop S] [--seed S]
"""
import argparse
import sys

from core.classes import LABEL_NAMES
from core.data.folders import DatasetError
from core.imaging.preprocess import INTENSITY_METHODS
from core.model.backbones import BACKBONES, DEFAULT_BACKBONE, WeightsUnavailableError
from core.model.card import ModelCard
from core.training.card_building import TrainSettings
from core.training.pipeline import DEFAULT_EPOCHS, DEFAULT_IMG_SIZE, train
from core.training.recipe import Recipe


def parse_args(argv: list[str]) -> TrainSettings:
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
    parser.add_argument("--border-crop", type=float, default=Recipe.border_crop,
                        help="share of each side the model crops off before the backbone (0 to 0.2)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    epochs = args.epochs or DEFAULT_EPOCHS[args.backbone]
    img_size = args.img_size or DEFAULT_IMG_SIZE[args.backbone]
    if args.folds < 2 or epochs < 1 or img_size < 32 or args.restyled_copies < 0 or not 0 <= args.border_crop <= 0.2:
        parser.error("--folds must be at least 2, --epochs at least 1, --img-size at least 32, --restyled-copies at "
                     "least 0 and --border-crop between 0 and 0.2")
    recipe = Recipe(restyled_copies=args.restyled_copies if args.backbone != "small_cnn" else 0, intensity=args.intensity,
                    border_crop=args.border_crop)
    return TrainSettings(args.data_dir, args.out, args.backbone, epochs, img_size, args.folds, args.seed, recipe)


def summary(card: ModelCard) -> str:
    """What the run found, in a few lines: grouped-CV accuracy, and each question's worst left-out pairing."""
    accuracy = card.cross_validation.accuracy
    lines = [f"wrote {card.name}: grouped CV four-class accuracy {accuracy.mean:.3f} ± {accuracy.std:.3f}"]
    for name, validation in (card.questions or {}).items():
        worst = validation.worst_left_out
        lines.append(f"{name}: grouped CV AUROC {validation.grouped_cv.auroc:.3f}; "
                     + (f"worst left-out source {worst.source} AUROC {worst.figures.auroc:.3f}" if worst
                        else "not validated on a left-out source"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        card = train(settings)
    except (DatasetError, WeightsUnavailableError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary(card))
    return 0


if __name__ == "__main__":
    sys.exit(main())
