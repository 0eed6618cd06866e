"""Corpus-wide analyses for the notebooks: template text across governments, who took it from whom,
first appearances, precision / recall intervals and calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import precision_score, recall_score

from policy_nlp.research import (
    copy_edges,
    expected_calibration_error,
    first_appearances,
    near_duplicate_groups,
    precision_recall_intervals,
    reliability_table,
    wilson_interval,
)

STATE_COUNCIL = ("到2022年，学校美育取得突破性进展，美育课程全面开齐开足，教育教学改革成效显著，资源配置不断优化，"
                 "评价体系逐步健全，管理机制更加完善，育人成效显著增强，学生审美和人文素养明显提升。")
PROVINCE_COPY = ("到2022年，全省学校美育取得突破性进展，美育课程全面开齐开足，教育教学改革成效显著，资源配置不断优化，"
                 "评价体系逐步健全，育人成效显著增强，全省学生审美和人文素养明显提升。")
CITY_COPY = ("到2022年，全市学校美育取得突破性进展，美育课程全面开齐开足，教育教学改革成效显著，资源配置不断优化，"
             "评价体系逐步健全，育人成效显著增强，全市学生审美和人文素养明显提升。")
TEACHERS = "深化县管校聘管理改革，推进义务教育教师交流轮岗，每年交流轮岗教师比例不低于符合条件教师总数的10%。"
SAFETY = "筑牢校园安全屏障，开展联合执法检查18次，整改安全隐患67处，实现全年校园安全责任事故零发生。"


def _paragraphs(rows: list[tuple[int, str, str, int | None, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["para_id", "bureau", "level", "year", "text"])
    return frame.assign(doc_id=frame["bureau"] + "-doc", year=frame["year"].astype("Int64"))


CORPUS = _paragraphs([
    (1, "国务院办公厅", "national", 2020, STATE_COUNCIL),
    (2, "某省教育厅", "province", 2021, PROVINCE_COPY),
    (3, "某市教育局", "city", 2021, CITY_COPY),
    (4, "某县教育局", "county", 2024, TEACHERS),
    (5, "某县教育局", "county", 2025, TEACHERS.replace("10%", "12%")),  # the same bureau repeating itself
    (6, "某区教育局", "district", 2023, SAFETY),
    (7, "某区教育局", "district", 2023, "一、工作要点"),  # too short to be a template
])


def test_template_text_is_grouped_across_bureaus_only():
    groups = near_duplicate_groups(CORPUS)
    assert groups["para_id"].tolist() == [1, 2, 3]
    assert set(groups["group"]) == {1} and set(groups["group_size"]) == {3}
    # with the county's two documents counted as different "bureaus", its repeated paragraph is a group too
    by_doc = near_duplicate_groups(CORPUS.assign(doc_id=CORPUS["para_id"].astype(str)), across="doc_id")
    assert by_doc.groupby("group")["para_id"].apply(list).tolist() == [[1, 2, 3], [4, 5]]


def test_a_strict_threshold_keeps_only_verbatim_copies():
    verbatim = CORPUS.assign(text=CORPUS["text"].where(CORPUS["para_id"] != 3, STATE_COUNCIL))
    assert near_duplicate_groups(verbatim, threshold=0.99)["para_id"].tolist() == [1, 3]


def test_the_earliest_bureau_of_a_group_is_its_source():
    edges = copy_edges(near_duplicate_groups(CORPUS))
    assert edges.to_dict("records") == [
        {"source": "国务院办公厅", "follower": "某市教育局", "groups": 1, "source_year": 2020, "follower_year": 2021},
        {"source": "国务院办公厅", "follower": "某省教育厅", "groups": 1, "source_year": 2020, "follower_year": 2021},
    ]
    assert copy_edges(near_duplicate_groups(CORPUS[CORPUS["para_id"] > 3])).empty


def test_first_appearance_per_bureau_is_its_earliest_best_paragraph():
    timeline = pd.DataFrame({
        "bureau": ["A市", "B县", "A市", "B县", "C区"],
        "year": pd.array([2021, 2019, 2018, 2019, None], dtype="Int64"),
        "score": [0.9, 0.2, 0.1, 0.8, 1.0],
        "para_id": [1, 2, 3, 4, 5],
    })
    first = first_appearances(timeline)
    assert first[["bureau", "year", "para_id"]].values.tolist() == [["A市", 2018, 3], ["B县", 2019, 4]]


def test_wilson_interval_matches_the_textbook_values():
    low, high = wilson_interval(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.49, 0.943)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and 0.15 < high < 0.17
    assert wilson_interval(13, 13)[1] == 1.0 and wilson_interval(0, 13)[0] == 0.0


def test_precision_and_recall_match_scikit_learn_and_lie_in_their_intervals():
    rng = np.random.default_rng(0)
    y_true = (rng.random((200, 3)) < [0.05, 0.3, 0.6]).astype(np.int8)
    y_pred = np.where(rng.random((200, 3)) < 0.8, y_true, 1 - y_true).astype(np.int8)
    table = precision_recall_intervals(y_true, y_pred, ["党建", "师资", "安全"]).set_index("theme")
    for j, theme in enumerate(["党建", "师资", "安全"]):
        row = table.loc[theme]
        assert row["precision"] == pytest.approx(precision_score(y_true[:, j], y_pred[:, j]))
        assert row["recall"] == pytest.approx(recall_score(y_true[:, j], y_pred[:, j]))
        assert row["precision_low"] <= row["precision"] <= row["precision_high"]
        assert row["recall_low"] <= row["recall"] <= row["recall_high"]
        assert row["support"] == y_true[:, j].sum()
    widths = table["recall_high"] - table["recall_low"]
    assert widths["党建"] > widths["安全"]  # fewer positives, wider interval


def test_reliability_separates_calibrated_from_overconfident_scores():
    rng = np.random.default_rng(1)
    proba = rng.random((4000, 2))
    calibrated = (rng.random((4000, 2)) < proba).astype(np.int8)
    overconfident = (rng.random((4000, 2)) < 0.5).astype(np.int8)
    table = reliability_table(calibrated, proba, bins=10)
    assert table["pairs"].sum() == 8000 and len(table) == 10
    assert np.allclose(table["positive_rate"], table["mean_score"], atol=0.05)
    assert expected_calibration_error(table) < 0.03
    assert expected_calibration_error(reliability_table(overconfident, proba)) > 0.2


def test_of_two_bureaus_in_the_same_year_the_higher_level_is_the_source():
    same_year = CORPUS.assign(year=CORPUS["year"].where(CORPUS["para_id"] != 1, 2021), para_id=CORPUS["para_id"][::-1].to_numpy())
    edges = copy_edges(near_duplicate_groups(same_year))
    assert set(edges["source"]) == {"国务院办公厅"} and set(edges["follower"]) == {"某省教育厅", "某市教育局"}
