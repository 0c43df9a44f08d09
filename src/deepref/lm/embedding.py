"""Word embeddings (the op lives in :mod:`deepref.nn.embedding`; the language-model chapter imports it from here)."""

from ..nn.embedding import Embedding, EmbeddingCache, check_ids, embedding_backward, embedding_forward

__all__ = ["Embedding", "EmbeddingCache", "check_ids", "embedding_backward", "embedding_forward"]
