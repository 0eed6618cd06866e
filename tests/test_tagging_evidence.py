"""Evidence for many texts at once (one batch of sentences) is what explain_theme gives for each text and theme."""

from __future__ import annotations

import numpy as np

from policy_nlp.classify import KeywordClassifier, explain_theme, load_taxonomy
from policy_nlp.tagging import predict

TAXONOMY = load_taxonomy()
TEXTS = [
    "一是筑牢校园安全屏障;开展防溺水专项教育,组织应急疏散演练。二是抓好师德师风建设!严查在职教师有偿补课。",
    "推进学前教育普惠发展。新建公办幼儿园3所。",
    "坚持党建引领,开展主题教育。落实“双减”政策,课后服务全覆盖。",
]


class _KeywordTagger(KeywordClassifier):
    """The keyword rule as a tagging model (`predict` also asks which texts are uncertain: none are)."""

    def uncertain(self, proba: np.ndarray) -> np.ndarray:
        return np.zeros(len(proba), dtype=bool)


def test_batched_evidence_matches_explain_theme_per_text():
    model = _KeywordTagger(TAXONOMY).fit(TEXTS)
    predictions = predict(model, TEXTS, explain=True)
    assert sum(len(p.themes) for p in predictions) >= 4
    for text, pred in zip(TEXTS, predictions):
        expected = {t: [s for s, _ in explain_theme(model, text, t, taxonomy=TAXONOMY).sentences] for t in pred.themes}
        assert pred.evidence == expected
    assert any(len(sentences) >= 1 for p in predictions for sentences in p.evidence.values())
