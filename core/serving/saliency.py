"""Where the network looked: Grad-CAM, Grad-CAM++ and Score-CAM through tf-keras-vis, and heatmap overlays."""
import cv2
import keras
import numpy as np
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
from tf_keras_vis.scorecam import Scorecam
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
from tf_keras_vis.utils.scores import CategoricalScore

METHODS = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "Score-CAM"}
HEATMAP_COLOURS = cv2.COLORMAP_JET  # blue (little) to red (most)
SCORECAM_MAX_CHANNELS = 64  # "Faster Score-CAM": only the most active channels, so it runs in seconds on a CPU


def conv_layer_names(model: keras.Model) -> list[str]:
    """Layers with 4-D (spatial) outputs that a CAM can be computed at, input side first."""
    return [layer.name for layer in model.layers
            if len(getattr(layer.output, "shape", ())) == 4 and not isinstance(layer, keras.layers.InputLayer)]


class SaliencyExplainer:
    """tf-keras-vis visualisers for one model, built once (each clones the model once, never per call)."""

    def __init__(self, model: keras.Model, default_layer: str):
        self.model, self.default_layer = model, default_layer
        self._visualisers = {
            "gradcam": Gradcam(model, model_modifier=ReplaceToLinear(), clone=True),
            "gradcam++": GradcamPlusPlus(model, model_modifier=ReplaceToLinear(), clone=True),
            "scorecam": Scorecam(model),  # Score-CAM reads the softmax output itself
        }

    def explain(self, model_input: np.ndarray, class_index: int, method: str = "gradcam", layer: str | None = None) -> np.ndarray:
        """A (size, size) map in [0, 1] of where `class_index` is supported, at `layer` (default: the last conv block)."""
        if method not in METHODS:
            raise ValueError(f"unknown saliency method {method!r}; choose one of {', '.join(METHODS)}")
        options = {"max_N": SCORECAM_MAX_CHANNELS} if method == "scorecam" else {}
        cam = self._visualisers[method](CategoricalScore([class_index]), model_input[None].astype(np.float32),
                                        penultimate_layer=layer or self.default_layer,
                                        seek_penultimate_conv_layer=False, **options)
        return np.nan_to_num(np.asarray(cam[0], dtype=np.float32)).clip(0.0, 1.0)


def overlay(pixels: np.ndarray, cam: np.ndarray, opacity: float = 0.4) -> np.ndarray:
    """Blend a [0, 1] map, coloured with OpenCV's JET colormap (red = strong), over a greyscale image; RGB uint8."""
    height, width = pixels.shape[:2]
    heat = cv2.resize((cam * 255).astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
    coloured = cv2.cvtColor(cv2.applyColorMap(heat, HEATMAP_COLOURS), cv2.COLOR_BGR2RGB)
    base = cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB) if pixels.ndim == 2 else pixels
    return cv2.addWeighted(coloured, float(opacity), base, 1.0 - float(opacity), 0.0)


def colour_scale(width: int = 256, height: int = 12) -> np.ndarray:
    """The heatmap's colours from 0 (left) to 1 (right), as an RGB uint8 strip."""
    ramp = np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))
    return cv2.cvtColor(cv2.applyColorMap(ramp, HEATMAP_COLOURS), cv2.COLOR_BGR2RGB)
