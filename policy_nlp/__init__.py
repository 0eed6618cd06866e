"""policy_nlp: offline semantic search and theme tagging for Chinese education-bureau policy texts."""

__version__ = "0.1.0"
