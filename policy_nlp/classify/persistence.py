"""Saving and loading the theme classifier: a folder with plain JSON config, safetensors weights, model card.

    config.json           format version, base model and its sha256, hyper-parameters, theme ids,
                          thresholds, calibration, versions, plus training/evaluation records
    adapter.safetensors   the trained network (head, and the fine-tuned top encoder layers if any)
    README.md             the model card, when given
"""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..artifacts import Manifest, read_manifest, write_folder
from ..errors import ModelError
from ..resources import shipped
from .backbone import BASE_MODEL_ID, PASSAGE_PROMPT, get_backbone
from .calibration import CalibratedThemeClassifier
from .estimator import FineTunedThemeClassifier
from .head import theme_network

ARTIFACT = "theme-model"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "adapter.safetensors"
CARD_FILE = "README.md"
SHIPPED_DIR = shipped("models", "themes-e5")


def versions() -> dict[str, str]:
    import sklearn
    import torch
    import transformers

    from policy_nlp import __version__ as policy_nlp_version

    return {
        "policy_nlp": str(policy_nlp_version),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def save_model(model: CalibratedThemeClassifier, directory: str | Path, *, card: str | None = None,
               extra: dict | None = None) -> Path:  # fmt: skip
    """Write a fitted CalibratedThemeClassifier over a FineTunedThemeClassifier to `directory`."""
    from safetensors.torch import save_file

    import sklearn
    import torch
    import transformers

    check_is_fitted(model, "estimator_")
    inner = model.estimator_
    settings = {
        "model_type": "policy_nlp.CalibratedThemeClassifier(FineTunedThemeClassifier)",
        "base_model_sha256": get_backbone(inner.home).sha256,
        "prompt": PASSAGE_PROMPT,
        "hyper_parameters": {k: v for k, v in inner.get_params().items() if k != "home"},
        "calibration_parameters": {"cv": model.cv, "calibrate": model.calibrate, "margin": model.margin},
        "theme_ids": list(model.theme_ids_),
        "thresholds": {t: float(x) for t, x in zip(model.theme_ids_, model.thresholds_)},
        "calibration": {t: [float(a), float(b)] for t, (a, b) in zip(model.theme_ids_, model.calibration_)},
        **(extra or {}),
    }
    manifest = Manifest.new(ARTIFACT, model_id=BASE_MODEL_ID, counts={"themes": model.n_themes_},
                            settings=settings, libraries=(torch, transformers, sklearn, np))  # fmt: skip
    state = {k: v.detach().contiguous() for k, v in inner.network_.state_dict().items()}
    with write_folder(Path(directory), manifest, name=CONFIG_FILE) as tmp:
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        if card is not None:
            (tmp / CARD_FILE).write_text(card, encoding="utf-8")
    return Path(directory)


def _plain_config(data: dict) -> Manifest:
    """A config written before the common manifest (plain fields; format 1 has a head only and thresholds on
    raw scores, read with identity calibration) in the current shape."""
    if data["format_version"] not in (1, 2):
        raise ValueError(f"classifier format {data['format_version']} is unknown")
    settings = {k: v for k, v in data.items() if k not in ("format_version", "base_model", "versions")}
    return Manifest(ARTIFACT, model_id=data["base_model"], counts={"themes": len(data["theme_ids"])},
                    settings=settings, versions=data["versions"], format_version=1)


def load_model(directory: str | Path = SHIPPED_DIR, home: str | Path | None = None) -> CalibratedThemeClassifier:
    """Rebuild a saved classifier over the converted base model under `home`."""
    from safetensors.torch import load_file

    directory = Path(directory)
    try:
        config = read_manifest(directory, ARTIFACT, name=CONFIG_FILE, legacy=_plain_config).settings
        state = load_file(str(directory / WEIGHTS_FILE))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the theme classifier in {directory}: {exc}; retrain with `policy-nlp train`") from exc
    backbone = get_backbone(home)
    if config.get("base_model_sha256") and backbone.sha256 and config["base_model_sha256"] != backbone.sha256:
        raise ModelError(
            f"{directory} was trained on base model sha256 {config['base_model_sha256']}, but the converted "
            f"model in {backbone.model_dir} has {backbone.sha256}; retrain with `policy-nlp train`"
        )
    inner = FineTunedThemeClassifier(**config["hyper_parameters"], home=home)
    ids = tuple(config["theme_ids"])
    inner.theme_ids_, inner.n_themes_, inner.thresholds_ = ids, len(ids), np.full(len(ids), 0.5)
    layers = backbone.top_layers(inner.tune_layers)
    inner.network_ = theme_network(backbone.hidden, len(ids), layers, backbone.layer_mask)
    inner.network_.load_state_dict(state)
    inner.network_.eval()
    model = CalibratedThemeClassifier(inner, **config.get("calibration_parameters", {"calibrate": False}))
    model.estimator_, model.theme_ids_, model.n_themes_ = inner, ids, len(ids)
    model.thresholds_ = np.array([config["thresholds"][t] for t in ids], dtype=float)
    identity = {t: [1.0, 0.0] for t in ids}
    model.calibration_ = np.array([config.get("calibration", identity)[t] for t in ids], dtype=float)
    return model
