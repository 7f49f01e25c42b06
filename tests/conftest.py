"""Shared test settings: quiet TensorFlow, fast mode, the repository root."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("DLBOOK_MODE", "fast")

ROOT = Path(__file__).resolve().parents[1]
