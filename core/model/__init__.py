"""The model: backbones, the model folder (bundle), training, calibration, abstention and the OOD check."""
