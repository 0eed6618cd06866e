"""Why a paragraph got a theme: the sentences that drive the score, and the seed keywords found."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .taxonomy import Taxonomy, load_taxonomy

_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")


@dataclass(frozen=True)
class Explanation:
    theme_id: str
    score: float  # the model's score for the whole paragraph
    sentences: list[tuple[str, float]]  # (sentence, its own score), best first
    keywords: list[str]  # the theme's seed keywords found in the paragraph


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph, split after 。！？； (and their ASCII forms)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def explain_theme(
    model, text: str, theme_id: str, *, taxonomy: Taxonomy | None = None, share: float = 0.5, top: int = 3
) -> Explanation:
    """Score each sentence of `text` on its own with `model.predict_proba` and keep the `top`
    sentences whose score is positive and at least `share` of the paragraph's score (none when
    that is 0).

    `theme_id` may also be the Chinese name. `model` is fitted on label columns in `taxonomy`
    order (default: the packaged taxonomy).
    """
    taxonomy = taxonomy or load_taxonomy()
    theme = taxonomy.get(theme_id)
    j = taxonomy.ids.index(theme.id)
    sentences = split_sentences(text)
    scores = model.predict_proba([text, *sentences])[:, j]
    kept = driving_sentences(sentences, scores[1:], float(scores[0]), share=share, top=top)
    return Explanation(theme.id, float(scores[0]), kept, theme.matches(text))


def driving_sentences(sentences: list[str], scores, paragraph_score: float, *, share: float = 0.5,
                      top: int = 3) -> list[tuple[str, float]]:  # fmt: skip
    """The ``top`` sentences, best first, whose own score is positive and at least ``share`` of the paragraph's."""
    ranked = sorted(zip(sentences, map(float, scores)), key=lambda p: -p[1])
    return [p for p in ranked if paragraph_score > 0 and p[1] > 0 and p[1] >= share * paragraph_score][:top]
