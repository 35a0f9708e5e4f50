"""Where things are in the source checkout; shared by every subpackage, imports none."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL_REPOSITORY = REPO_ROOT / "model_repository"
"""The model repository of the ``cpu`` target; every other target is rendered from it."""
EXAMPLES = REPO_ROOT / "examples"
DEPLOY = REPO_ROOT / "deploy"
BUILD = REPO_ROOT / "build"
