"""Network architectures: ImageNet transfer backbones and a small CNN from scratch, all taking raw 0-255 pixels."""
import os
import re
from pathlib import Path

import cv2
import keras
import numpy as np
from keras import layers

BACKBONES = ("mobilenet_v2", "resnet50", "small_cnn")
DEFAULT_BACKBONE = "mobilenet_v2"

# The convolutional output that Grad-CAM explains by default, and the pooled feature layers the head reads.
CAM_LAYER = {"mobilenet_v2": "out_relu", "resnet50": "conv5_block3_out", "small_cnn": "last_conv"}
FEATURE_LAYERS = {
    "mobilenet_v2": ("block_13_expand_relu", "block_16_expand_relu", "out_relu"),
    "resnet50": ("conv4_block6_out", "conv5_block3_out"),
    "small_cnn": ("last_conv",),
}
FEATURES_NAME = "features"  # the concatenated pooled features: the penultimate layer
HEAD_NAME = "probabilities"  # the model's output: the softmax over the logits
LOGITS_NAME = "logits"  # the head's linear layer: the class scores before the softmax, which Grad-CAM explains


class WeightsUnavailableError(RuntimeError):
    """ImageNet weights are neither in the Keras cache nor downloadable (no internet access)."""


def _imagenet_trunk(backbone: str, pixels: keras.KerasTensor, weights: str | None) -> keras.Model:
    """An ImageNet trunk built on `pixels` (0-255), with the backbone's own normalisation in front."""
    shape = tuple(pixels.shape[1:])
    if backbone == "mobilenet_v2":
        x, application = layers.Rescaling(1 / 127.5, offset=-1, name="to_minus1_plus1")(pixels), keras.applications.MobileNetV2
    else:  # ResNet50's "caffe" normalisation: BGR mean subtraction. Inputs are grey (R = G = B), so order is moot.
        x = layers.Normalization(mean=[103.939, 116.779, 123.68], variance=[1.0, 1.0, 1.0], name="caffe_centre")(pixels)
        application = keras.applications.ResNet50
    try:
        return application(include_top=False, weights=weights, input_tensor=x, input_shape=shape)
    except Exception as err:  # Keras raises a bare Exception, naming the URL, when the download fails
        cache = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "models"
        wanted = re.search(r"[^/\s]+\.h5", str(err))
        raise WeightsUnavailableError(
            f"ImageNet weights for {backbone} are not in the Keras cache and could not be downloaded ({err}). "
            f"Put {wanted.group(0) if wanted else 'the weights file'} in {cache} (the Keras cache: $KERAS_HOME/models), "
            "or connect to the internet"
        ) from None


def _small_cnn_trunk(pixels: keras.KerasTensor) -> keras.KerasTensor:
    """Four conv-BN-ReLU-pool stages, from scratch: the teaching model."""
    x = layers.Rescaling(1 / 255.0, name="to_0_1")(pixels)
    for i, filters in enumerate((16, 32, 64)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i + 1}")(x)  # few steps per epoch: track statistics fast
        x = layers.ReLU(name=f"relu{i + 1}")(x)
        x = layers.MaxPooling2D(name=f"pool{i + 1}")(x)
    return layers.Conv2D(128, 3, padding="same", activation="relu", name="last_conv")(x)


def crop_border(pixels: keras.KerasTensor, share: float) -> keras.KerasTensor:
    """The film without `share` of its width and height on each side (where labels, markers and collimation sit),
    stretched back to the input size. Grad-CAM maps then cover the kept field only (core/serving/saliency.uncrop)."""
    size = pixels.shape[1]
    margin = border_pixels(size, share)
    kept = layers.Cropping2D(margin, name="crop_border")(pixels)
    return layers.Resizing(size, size, interpolation="bilinear", name="stretch_kept_field")(kept)


def border_pixels(size: int, share: float) -> int:
    return int(round(share * size))


UNCROP_UPSAMPLE = 8  # a 7 x 7 map becomes 56 x 56 over the kept field before the border is added back


def uncrop_map(cam: np.ndarray, share: float) -> np.ndarray:
    """A map over the kept field of a model that cropped `share` off each side, placed on the whole film: upsampled
    (bilinear), with a zero border where the network never looked, so overlays stay aligned with the film."""
    if not share:
        return cam
    height, width = cam.shape
    kept = cv2.resize(cam.astype(np.float32), (width * UNCROP_UPSAMPLE, height * UNCROP_UPSAMPLE), interpolation=cv2.INTER_LINEAR)
    pad_y = border_pixels(kept.shape[0], share / (1 - 2 * share))
    pad_x = border_pixels(kept.shape[1], share / (1 - 2 * share))
    return np.pad(kept, ((pad_y, pad_y), (pad_x, pad_x)))


def build_feature_extractor(backbone: str, img_size: int, weights: str | None = "imagenet",
                            border_crop: float = 0.0) -> keras.Model:
    """Raw pixels -> pooled features (the penultimate layer) for the given backbone, after cropping `border_crop` of
    each side away."""
    pixels = keras.Input((img_size, img_size, 3), name="pixels")
    field = crop_border(pixels, border_crop) if border_crop else pixels
    if backbone == "small_cnn":
        maps = [_small_cnn_trunk(field)]
    else:
        trunk = _imagenet_trunk(backbone, field, weights)
        trunk.trainable = False
        maps = [trunk.get_layer(name).output for name in FEATURE_LAYERS[backbone]]
    pooled = [layers.GlobalAveragePooling2D(name=f"gap_{m.name.split('/')[0]}_{i}")(m) for i, m in enumerate(maps)]
    features = pooled[0] if len(pooled) == 1 else layers.Concatenate(name="concat_depths")(pooled)
    features = layers.Identity(name=FEATURES_NAME)(features)
    return keras.Model(pixels, features, name=f"{backbone}_features")


def build_head(num_features: int, num_classes: int, feature_sample: np.ndarray | None = None,
               dropout: float = 0.2, l2: float = 0.01) -> keras.Model:
    """A linear softmax classifier on the pooled features, standardised by their training mean and variance.

    Pass `feature_sample` (the training features) for a frozen backbone; without it (training end to end) the
    standardisation layer is left out.
    """
    features = keras.Input((num_features,), name="pooled_features")
    x = features
    if feature_sample is not None:  # fixed statistics in the config, so clones (tf-keras-vis) standardise too
        mean, variance = feature_sample.mean(axis=0), feature_sample.var(axis=0)
        x = layers.Normalization(mean=mean.tolist(), variance=variance.tolist(), name="standardise")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    logits = layers.Dense(num_classes, kernel_regularizer=keras.regularizers.L2(l2), name=LOGITS_NAME)(x)
    return keras.Model(features, layers.Softmax(name=HEAD_NAME)(logits), name="head")


def expose_logits(model: keras.Model) -> keras.Model:
    """`model` with its logits as a layer of their own: a model saved with one softmax Dense head (before the head
    was split) is rebuilt with that Dense, its weights copied unchanged, as a linear `logits` layer and a softmax."""
    if any(layer.name == LOGITS_NAME for layer in model.layers):
        return model
    head = model.get_layer(HEAD_NAME)
    logits = layers.Dense.from_config({**head.get_config(), "activation": "linear", "name": LOGITS_NAME})
    scores = logits(head.input)
    logits.set_weights(head.get_weights())
    return keras.Model(model.input, layers.Softmax(name=HEAD_NAME)(scores), name=model.name)


def attach_head(extractor: keras.Model, head: keras.Model) -> keras.Model:
    """One flat model: raw pixels -> class probabilities, with every conv layer reachable by name."""
    x = extractor.output
    for layer in head.layers[1:]:
        x = layer(x)
    return keras.Model(extractor.input, x, name=extractor.name.replace("_features", "_classifier"))
