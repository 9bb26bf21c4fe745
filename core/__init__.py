"""Chest X-ray CNN Lab core: data, models, inference, saliency and teaching maths (no UI code)."""
