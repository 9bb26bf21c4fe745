"""The Trainer: fits one validation split or the final model for a backbone and recipe. A frozen backbone's pooled
features are computed once (plain, mirrored and restyled copies), so each fit trains only the head."""
import keras
import numpy as np

from core.classes import CLASSES, target_sets
from core.data import augment
from core.model.backbones import FEATURES_NAME, attach_head, build_feature_extractor, build_head
from core.training.recipe import BATCH_SIZE, Recipe, balanced_weights, fit_model

N_CLASSES = len(CLASSES)


def feature_copies(extractor: keras.Model, images: np.ndarray, copies: int, seed: int) -> list[np.ndarray]:
    """Features of each image, of its mirror image, and of `copies` versions as other sources might have made them."""
    print(f"computing {extractor.name} features for {len(images)} images, their mirror images and {copies} restyled copies", flush=True)
    rng = np.random.default_rng(seed)
    versions = [images, images[:, :, ::-1]]
    for k in range(copies):
        restyled = np.stack([augment.imitate_another_source(image[:, :, 0].astype(np.uint8), rng) for image in images])
        restyled = np.repeat(restyled[..., None], 3, axis=3).astype(np.float32)
        versions.append(restyled[:, :, ::-1] if k % 2 == 0 else restyled)
    return [extractor.predict(v, batch_size=BATCH_SIZE, verbose=0) for v in versions]


class Trainer:
    """Fits one fold or the final model for a backbone; features of frozen backbones are cached."""

    def __init__(self, backbone: str, images: np.ndarray, labels: np.ndarray, sources: np.ndarray, epochs: int, seed: int,
                 recipe: Recipe = Recipe()):
        self.backbone, self.images, self.labels, self.sources = backbone, images, labels, sources
        self.epochs, self.seed, self.recipe = epochs, seed, recipe
        self.targets = target_sets(labels)
        self.frozen = backbone != "small_cnn"
        self.extractor = self._extractor("imagenet" if self.frozen else None)
        if self.frozen:
            self.feature_copies = feature_copies(self.extractor, images, recipe.restyled_copies, seed)
            self.features = self.feature_copies[0]
        self.stamped_for_testing = augment.with_burned_in_labels(images, seed)

    def _extractor(self, weights: str | None) -> keras.Model:
        return build_feature_extractor(self.backbone, self.images.shape[1], weights, self.recipe.border_crop)

    def _training_set(self, train_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The indices the recipe trains on, and their sample weights."""
        if not self.recipe.coarse_label:
            train_idx = train_idx[self.labels[train_idx] < N_CLASSES]
        if not self.recipe.balanced:
            return train_idx, np.ones(len(train_idx))
        return train_idx, balanced_weights(self.labels[train_idx], self.sources[train_idx])

    def fit_head(self, train_idx: np.ndarray, stage: str, val_idx: np.ndarray | None = None) -> tuple[keras.Model, dict]:
        """A frozen backbone's head (features -> probabilities) trained on train_idx, and its history."""
        train_idx, weights = self._training_set(train_idx)
        copies = self.feature_copies[:2 + self.recipe.restyled_copies]
        x = np.concatenate([f[train_idx] for f in copies])
        head = build_head(self.features.shape[1], N_CLASSES, feature_sample=x)
        val = None if val_idx is None else (self.features[val_idx], self.targets[val_idx])
        history = fit_model(head, x, np.tile(self.targets[train_idx], (len(copies), 1)), np.tile(weights, len(copies)),
                            self.epochs, stage, self.seed, val)
        return head, history

    def fit(self, train_idx: np.ndarray, stage: str, val_idx: np.ndarray | None = None) -> tuple[keras.Model, dict]:
        """Train on train_idx; returns the full pixels-to-probabilities model and its history."""
        if self.frozen:
            head, history = self.fit_head(train_idx, stage, val_idx)
            return attach_head(self.extractor, head), history
        train_idx, weights = self._training_set(train_idx)
        keras.utils.set_random_seed(self.seed)
        extractor = self._extractor(None)
        model = attach_head(extractor, build_head(extractor.output.shape[-1], N_CLASSES))
        val = None if val_idx is None else (self.images[val_idx], self.targets[val_idx])
        history = fit_model(model, self.images[train_idx], self.targets[train_idx], weights, self.epochs, stage, self.seed,
                            val, mirror=True)
        return model, history

    def held_out(self, train_idx: np.ndarray, test_idx: np.ndarray, stage: str) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities of test_idx from a model fitted on train_idx, and every image's pooled features under it (a
        frozen backbone's head reads the cached features: no image passes through the network again)."""
        if self.frozen:
            head, _ = self.fit_head(train_idx, stage)
            return head.predict(self.features[test_idx], batch_size=256, verbose=0), self.features
        model, _ = self.fit(train_idx, stage)
        return self.predict(model, test_idx), self.features_of(model)

    def predict(self, model: keras.Model, idx: np.ndarray, stamped: bool = False) -> np.ndarray:
        images = self.stamped_for_testing if stamped else self.images
        return model.predict(images[idx], batch_size=BATCH_SIZE, verbose=0)

    def features_of(self, model: keras.Model) -> np.ndarray:
        """Pooled features of every image under `model` (cached for a frozen backbone)."""
        if self.frozen:
            return self.features
        return keras.Model(model.input, model.get_layer(FEATURES_NAME).output).predict(self.images, batch_size=BATCH_SIZE, verbose=0)
