"""One encoder pass per new paragraph in `run`: its vector for search and its token states for the themes.

Without it every paragraph goes through the transformer twice (int8 ONNX for the search vector, the
float model for the theme head) and both models sit in memory. The int8 ONNX graph returns the
mean-pooled vector and the last-layer token states together: the vector goes into the home's
embedding cache under the search encoder's model id (so the index update that follows finds it and
encodes nothing), the states into the theme head (`classify.from_states`). Texts longer than
`tagging.MAX_TEXT_CHARS` are read up to the encoder's token limit like any other: their first 512
tokens, as the separate path reads of the cut text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .classify.calibration import CalibratedThemeClassifier
from .classify.from_states import StatesThemeModel, reads_last_layer
from .embed.cache import EmbeddingCache
from .embed.convert import MAX_SEQ_LENGTH, PROMPTS
from .embed.encoder import DEFAULT_MODEL_ID, ONNX_INT8_SUFFIX
from .schema import text_hash
from .tagging import MAX_TEXT_CHARS, Prediction, predict

#: The model id of the default search encoder whose vectors the shared pass computes.
SEARCH_MODEL_ID = DEFAULT_MODEL_ID + ONNX_INT8_SUFFIX
PASSAGE_PROMPT = PROMPTS["passage"]


class SharedPass:
    """Themes of paragraphs from the int8 pass that also caches their search vectors."""

    def __init__(self, home: Path, theme_model: CalibratedThemeClassifier):
        from .embed.convert import ensure_converted
        from .embed.encoder import cpu_count
        from .embed.onnx_export import onnx_int8_model

        self.theme_model = theme_model
        self.encoder = onnx_int8_model(ensure_converted(home), cpu_count())
        self.cache = EmbeddingCache(home=home)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """`tagging.predict` of `texts`, their search vectors cached on the way."""
        vectors, states = self.encoder.passages_with_states(list(texts), PASSAGE_PROMPT)
        self.cache.put(SEARCH_MODEL_ID, zip((text_hash(t) for t in texts), vectors))
        by_text = {t[:MAX_TEXT_CHARS]: s for t, s in zip(texts, states)}
        return predict(StatesThemeModel(self.theme_model, by_text), texts)

    def close(self) -> None:
        self.cache.close()


def shared_pass(home: Path, theme_model: object) -> SharedPass | None:
    """A SharedPass when it gives what the two separate passes would: the theme model is a head over the
    embedded encoder's last layer, and the search index is built (or will be) with the default int8 encoder."""
    from .index import load_manifest
    from .search.indexes import DENSE_DIRNAME, exists, index_dir

    if not reads_last_layer(theme_model, PASSAGE_PROMPT, MAX_SEQ_LENGTH):
        return None
    if exists(home) and load_manifest(index_dir(home) / DENSE_DIRNAME).model_id != SEARCH_MODEL_ID:
        return None
    return SharedPass(home, theme_model)
