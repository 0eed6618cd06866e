"""Explanations: the sentences that drive a theme's score, and the seed keywords found."""

from __future__ import annotations

import numpy as np

from policy_nlp.classify import KeywordClassifier, TfidfLogRegClassifier, explain_theme, load_taxonomy, split_sentences

TAXONOMY = load_taxonomy()
MIXED = "一是筑牢校园安全屏障;开展防溺水专项教育,组织应急疏散演练。二是推进基础建设,新建改扩建学校7所。三是抓好师德师风建设!严查在职教师有偿补课。"


def test_split_sentences():
    assert split_sentences(MIXED) == [
        "一是筑牢校园安全屏障;",
        "开展防溺水专项教育,组织应急疏散演练。",
        "二是推进基础建设,新建改扩建学校7所。",
        "三是抓好师德师风建设!",
        "严查在职教师有偿补课。",
    ]
    assert split_sentences("没有句末标点") == ["没有句末标点"]


def test_keyword_model_points_at_the_safety_sentences_and_keywords():
    model = KeywordClassifier(TAXONOMY).fit([MIXED])
    e = explain_theme(model, MIXED, "安全", taxonomy=TAXONOMY)
    assert e.theme_id == "safety" and e.score == 0.875  # three keywords: 1 - 0.5**3
    assert [s for s, _ in e.sentences] == ["开展防溺水专项教育,组织应急疏散演练。", "一是筑牢校园安全屏障;"]
    assert e.keywords == ["校园安全", "防溺水", "疏散演练"]  # 溺水 and 演练 only inside longer ones
    teachers = explain_theme(model, MIXED, "teachers", taxonomy=TAXONOMY, share=0.0)
    assert {s for s, _ in teachers.sentences} == {"三是抓好师德师风建设!", "严查在职教师有偿补课。"}
    assert explain_theme(model, "推进学前教育普惠发展。", "safety", taxonomy=TAXONOMY).sentences == []


class OnlyOneSentence:
    """A model whose safety score comes from one phrase, to check ranking and the share cut-off."""

    def predict_proba(self, X):
        out = np.zeros((len(X), len(TAXONOMY)))
        out[:, TAXONOMY.ids.index("safety")] = [0.9 if "防溺水" in x else 0.2 if "安全" in x else 0.0 for x in X]
        return out


def test_any_model_is_explained_by_sentence_scores():
    e = explain_theme(OnlyOneSentence(), MIXED, "safety", taxonomy=TAXONOMY, share=0.5)
    assert e.sentences == [("开展防溺水专项教育,组织应急疏散演练。", 0.9)]
    e = explain_theme(OnlyOneSentence(), MIXED, "safety", taxonomy=TAXONOMY, share=0.2, top=3)
    assert [s for s, _ in e.sentences] == ["开展防溺水专项教育,组织应急疏散演练。", "一是筑牢校园安全屏障;"]


def test_trained_model_explanation_ranks_the_relevant_sentence_first():
    texts = [
        "开展防溺水安全教育,组织应急演练。", "排查校园安全隐患,落实护学岗制度。", "加强食品安全和校车安全管理。",
        "新建改扩建学校,新增学位。", "推进县管校聘,开展教师培训。", "完善课后服务,治理校外培训机构。",
    ]
    Y = np.zeros((len(texts), len(TAXONOMY)), dtype=np.int8)
    Y[:3, TAXONOMY.ids.index("safety")] = 1
    model = TfidfLogRegClassifier().fit(texts, Y)
    e = explain_theme(model, MIXED, "safety", taxonomy=TAXONOMY, share=0.0, top=1)
    assert e.sentences[0][0] in {"一是筑牢校园安全屏障;", "开展防溺水专项教育,组织应急疏散演练。"}
