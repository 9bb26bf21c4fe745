"""Datasets: folders per class, manifests, labelled ZIP uploads, augmentation, samples, allowed server folders."""
