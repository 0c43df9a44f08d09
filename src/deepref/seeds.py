"""Independent seeds for the several random streams of one run (used by every chapter package)."""

from __future__ import annotations

import numpy as np

from .backend import Generator
from .validation import check_count


def spawn_seeds(seed, count: int) -> list[int]:
    """``count`` independent integer seeds from one ``seed`` (an int or a generator).

    An int goes through ``numpy.random.SeedSequence(seed).spawn(count)``, so
    the streams it feeds are independent of each other and of those of other
    seeds (``seed, seed + 1, ...`` would give run ``s``'s second stream to run
    ``s + 1``'s first); a :class:`deepref.backend.Generator` or
    ``numpy.random.Generator`` draws the seeds from its own stream.

    >>> spawn_seeds(0, 3) == spawn_seeds(0, 3), len(set(spawn_seeds(0, 3)))
    (True, 3)
    """
    check_count("count", count)
    if isinstance(seed, Generator):
        return [int(s) for s in seed.integers(0, 2**31, size=count, like=np.empty(0))]
    if isinstance(seed, np.random.Generator):
        return [int(s) for s in seed.integers(0, 2**31, size=count)]
    check_count("seed", seed, minimum=0)
    return [int(child.generate_state(1)[0] >> 1) for child in np.random.SeedSequence(seed).spawn(count)]
