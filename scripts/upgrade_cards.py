"""Rewrite model cards at the current card version (core/model/card_migration.py), so the folders under models/ no
longer need lifting each time they are read.

    python -m scripts.upgrade_cards            # every folder under models/
    python -m scripts.upgrade_cards models/x   # the folders named

A card records the SHA-256 of the files beside it, not its own, so only the card changes. The card is written only
if the one read back from what would be written equals the card as read now: every figure as it was.
"""
import sys
from pathlib import Path

from core.model.card import ModelCard, list_model_dirs, read_card, write_card


def upgrade_card(directory: Path) -> ModelCard:
    """The folder's card, written back at the current version; refused if writing would change the typed card."""
    card = read_card(directory)
    if ModelCard.from_dict(card.to_dict(), directory) != card:
        raise ValueError(f"{directory}: the card would not read back as it reads now; left as it is")
    write_card(directory, card)
    return card


def main(argv: list[str]) -> int:
    for directory in [Path(a) for a in argv] or list_model_dirs():
        print(f"{directory}: card version {upgrade_card(directory).card_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
