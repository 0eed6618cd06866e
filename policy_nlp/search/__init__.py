"""Retrieval building blocks that work on paragraph ids, texts and scores: BM25, fusion, near-duplicates."""
