"""Model cards of older versions lifted to the current one, one step per version, so that older models (the exhibits
among them) load without retraining. A step fills what its version added with what the older card means: None where
a figure was never measured, never a made-up figure.
"""
from collections.abc import Callable, Mapping
from typing import Any

CARD_VERSION = 3  # raise it when a field is added, removed or changes meaning, and add a step to MIGRATIONS


def _v1_to_v2(card: dict) -> dict:
    """Version 2 added the three questions (absent before), the border crop (none before) and the left-out
    not-a-chest-X-ray rates (not measured before)."""
    ood = card.get("ood")
    return {**card, "card_version": 2, "questions": None, "border_crop": 0.0,
            "ood": {**ood, "left_out_rejection": {}} if isinstance(ood, dict) else ood}


NONE_BEFORE_V3 = {  # section: the keys it could lack before version 3, None there
    "training_data": ("by_source",), "cross_validation": ("grouped_by",), "shortcut_check": ("burned_in_label_test",),
    "validation": ("source_audit", "leave_one_source_out", "aims"),
}


def _v2_to_v3(card: dict) -> dict:
    """Version 3 types every section, so keys a section could lack are always there: None where the older card did
    not measure them, and whether the abstention target was met, which its accuracy and target already say."""
    lifted = {name: {**dict.fromkeys(NONE_BEFORE_V3.get(name, ())), **section} if isinstance(section, dict) else section
              for name, section in card.items()}
    abstention = lifted.get("abstention")
    if isinstance(abstention, dict) and "target_met" not in abstention and _numbers(abstention, "accuracy", "target_accuracy"):
        lifted["abstention"] = {**abstention, "target_met": abstention.get("accuracy", 0) >= abstention.get("target_accuracy", 1)}
    return {**lifted, "card_version": 3}


def _numbers(section: dict, *keys: str) -> bool:
    return all(isinstance(section.get(k), int | float) and not isinstance(section.get(k), bool) for k in keys)


MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2, 2: _v2_to_v3}  # card version -> step to the next


def migrate(card: Mapping[str, Any]) -> tuple[Mapping[str, Any], Any]:
    """The card lifted step by step to CARD_VERSION, and the version it ends at (another when no step leads on)."""
    version = card.get("card_version", CARD_VERSION)
    while type(version) is int and version in MIGRATIONS:
        card = MIGRATIONS[version](dict(card))
        version = card["card_version"]
    return card, version
