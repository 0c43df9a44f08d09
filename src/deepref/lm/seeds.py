"""Kept for imports written before :mod:`deepref.seeds` existed; the one :func:`spawn_seeds` lives there."""

from ..seeds import spawn_seeds

__all__ = ["spawn_seeds"]
