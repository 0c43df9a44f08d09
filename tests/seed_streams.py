"""Test helper: the integer seeds a chapter experiment hands to its model builder and to ``fit``.

A run that feeds several random streams from one seed must give them
independent seeds (:func:`deepref.seeds.spawn_seeds`), not ``seed, seed + 1``,
which would hand run ``s``'s second stream to run ``s + 1``.
"""

import functools
import inspect


def run_streams(monkeypatch, module, builder: str, run, config, seed) -> dict:
    """Run ``run(config, seed)`` and return ``{"init": builder's seed, "order": fit's seed}``.

    ``module`` is the experiment's module, ``builder`` the name (in it) of the
    function that builds the model with a ``seed`` argument.
    """
    seen = {}
    build, fit = inspect.unwrap(getattr(module, builder)), inspect.unwrap(module.fit)

    @functools.wraps(build)
    def recording_build(*args, **kwargs):
        seen["init"] = inspect.signature(build).bind(*args, **kwargs).arguments["seed"]
        return build(*args, **kwargs)

    @functools.wraps(fit)
    def recording_fit(*args, **kwargs):
        seen["order"] = kwargs["seed"]
        return fit(*args, **kwargs)

    monkeypatch.setattr(module, builder, recording_build)
    monkeypatch.setattr(module, "fit", recording_fit)
    run(config, seed)
    return seen


def assert_runs_share_no_stream(monkeypatch, module, builder: str, run, config) -> None:
    """Runs 0 and 1 hand four different seeds to their builders and ``fit``; a generator works as a seed."""
    from deepref.backend import default_rng

    first, second = (run_streams(monkeypatch, module, builder, run, config, s) for s in (0, 1))
    seeds = [first["init"], first["order"], second["init"], second["order"]]
    assert all(isinstance(s, int) for s in seeds)
    assert len(set(seeds)) == 4, f"runs 0 and 1 share a stream: {first} {second}"
    drawn = run_streams(monkeypatch, module, builder, run, config, default_rng(0))
    assert drawn["init"] != drawn["order"]
