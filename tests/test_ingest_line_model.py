"""The boilerplate line classifier: features, estimator conventions, save format and writer lock, the shipped model."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from policy_nlp.artifacts import FORMAT_VERSION
from policy_nlp.errors import ModelError
from policy_nlp.ingest.clean import packaged_classifier
from policy_nlp.ingest.line_features import FEATURE_NAMES, line_features
from policy_nlp.ingest.line_model import BoilerplateLineClassifier, load_packaged

LINES = [
    "分享到：微信微博 QQ空间",
    "县教育局2024年工作要点",
    "2024年，全县教育系统坚持立德树人根本任务，深化教育综合改革，办好人民满意的教育。",
    "一、加强党的建设",
    "全面落实中小学校党组织领导的校长负责制，推进党建与业务深度融合，建强基层党组织。",
    "- 2 -",
    "二、深入推进“双减”",
    "规范校外培训机构，提升课后服务质量，减轻学生过重作业负担，推动学校教育提质增效。",
    "上一篇：关于做好寒假安全工作的通知",
]


def test_features_describe_what_a_line_is_and_where():
    X = line_features(LINES)
    assert X.shape == (len(LINES), len(FEATURE_NAMES)) and X.dtype == np.float32
    column = dict(zip(FEATURE_NAMES, X.T))
    assert column["widget_words"][0] > 0 and column["widget_words"][2] == 0
    assert column["heading"].tolist() == [0, 0, 0, 1, 0, 0, 1, 0, 0]
    assert column["page_number"][5] == 1
    assert column["before_prose"].tolist()[:3] == [1, 1, 0] and column["after_prose"][8] == 1
    # the report's lines share vocabulary with each other; the share bar shares none
    assert min(column["vocabulary_shared"][[1, 2, 4]]) > 0 and column["vocabulary_shared"][0] == 0


def test_fit_follows_scikit_learn_conventions(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, len(FEATURE_NAMES)))
    y = (X[:, 0] + 0.1 * rng.normal(size=200) > 0).astype(int)
    model = BoilerplateLineClassifier(threshold=0.5, C=1.0)
    assert model.get_params() == {"threshold": 0.5, "C": 1.0} and not hasattr(model, "coef_")
    assert model.fit(X, y) is model
    assert (model.predict(X) == y).mean() > 0.9
    model.save(tmp_path / "m")
    loaded = BoilerplateLineClassifier.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    config = json.loads((tmp_path / "m" / "config.json").read_text(encoding="utf-8"))
    assert config["artifact"] == "boilerplate-line-model" and config["format_version"] == FORMAT_VERSION
    assert config["settings"]["features"] == list(FEATURE_NAMES) and "sklearn" in config["versions"]


def test_a_model_saved_before_the_common_manifest_still_loads(tmp_path):
    packaged_classifier().save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "config.json").read_text(encoding="utf-8"))
    v1 = {"format_version": 1, **manifest["settings"], "library_versions": {"numpy": "2.4.6", "scikit-learn": "1.9.1"}}
    (tmp_path / "m" / "config.json").write_text(json.dumps(v1), encoding="utf-8")
    X = line_features(LINES)
    loaded = BoilerplateLineClassifier.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X), packaged_classifier().predict(X))
    (tmp_path / "m" / "config.json").write_text(json.dumps({**v1, "format_version": 7}), encoding="utf-8")
    with pytest.raises(ModelError, match="cannot be read"):
        BoilerplateLineClassifier.load(tmp_path / "m")


def test_a_model_saved_for_other_features_is_refused(tmp_path):
    X = np.eye(len(FEATURE_NAMES)).repeat(2, axis=0)
    model = BoilerplateLineClassifier().fit(X, np.tile([0, 1], len(FEATURE_NAMES)))
    model.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text(encoding="utf-8"))
    config["settings"]["features"] = config["settings"]["features"][:-1]
    (tmp_path / "m" / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ModelError, match="retrain it"):
        BoilerplateLineClassifier.load(tmp_path / "m")
    with pytest.raises(ModelError, match="cannot be read"):
        BoilerplateLineClassifier.load(tmp_path / "missing")


def test_shipped_model_separates_site_lines_from_report_lines():
    probability = packaged_classifier().predict_proba(line_features(LINES))[:, 1]
    assert probability[0] > 0.9 and probability[8] > 0.9
    assert max(probability[1:5]) < 0.1 and max(probability[6:8]) < 0.1


_SLOW_SAVE = """
import sys, time
from pathlib import Path
import numpy as np
from policy_nlp.ingest.line_model import load_packaged

target, started, threshold, pause = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
save = np.save

def slow_save(path, array):  # hold the writer mid-save, with its temp folder half made
    started.touch()
    time.sleep(pause)
    save(path, array)

np.save = slow_save
load_packaged().set_params(threshold=threshold).save(target)
"""


def test_a_second_writer_of_the_line_model_waits_for_the_first(tmp_path, caplog, start_writer):
    target = tmp_path / "lines"
    first = start_writer(_SLOW_SAVE, tmp_path / "started", target, tmp_path / "started", 0.25, 2)
    with caplog.at_level(logging.WARNING, logger="policy_nlp.artifacts"):
        load_packaged().set_params(threshold=0.75).save(target)
    assert first.wait(timeout=60) == 0
    assert f"waiting for another process (pid {first.pid})" in caplog.text
    assert BoilerplateLineClassifier.load(target).threshold == 0.75  # it waited, then wrote last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lines", "started"]  # no temp folder, no lock file


def test_a_writer_killed_mid_save_leaves_the_old_line_model(tmp_path, start_writer):
    target = tmp_path / "lines"
    load_packaged().set_params(threshold=0.25).save(target)
    writer = start_writer(_SLOW_SAVE, tmp_path / "started", target, tmp_path / "started", 0.75, 60)
    writer.kill()  # SIGKILL while it holds the lock with a half-made temp folder
    writer.wait(timeout=60)
    old = BoilerplateLineClassifier.load(target)
    assert old.threshold == 0.25
    probability = old.predict_proba(line_features(LINES))[:, 1]
    np.testing.assert_array_equal(probability, packaged_classifier().predict_proba(line_features(LINES))[:, 1])
    load_packaged().set_params(threshold=0.5).save(target)  # the kernel freed the lock; the temp folder is swept
    assert BoilerplateLineClassifier.load(target).threshold == 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lines", "started"]
