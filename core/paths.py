"""Where the project's own files are, and where the shared data sets sit beside a checkout (`../shared`)."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO_ROOT / "models"
DEFAULT_MODEL_DIR = MODELS_DIR / "default"
SAMPLES_DIR = REPO_ROOT / "assets" / "samples"
SHIPPED_MANIFEST = REPO_ROOT / "assets" / "training_data" / "manifest.csv"  # the training set's metadata and public origins, no pixels
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"
TEACHING_DATASET = SHARED_DATASETS / "chest_xray_4class"  # small; its classes differ by source too (fixtures, demos)
TRAINING_DATASET = SHARED_DATASETS / "chest_xray_multisource"  # what the default model trains on
