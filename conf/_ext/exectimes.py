"""Each executed page's run time, written beside the HTML after a build.

MyST-NB keeps, for every notebook page, how long its execution took (in
``force`` mode the run just made; in ``cache`` mode the run the cache
holds). At the end of a build this extension writes them to
``<outdir>/../execution_times.json`` (``build/execution_times.json`` for
``nox -s docs``) as ``{"page": seconds}`` with ``page`` a docname such as
``optimization/sgd``, which ``benchmarks/bench_book.py`` sums per chapter.
"""

from __future__ import annotations

import json
from pathlib import Path

from myst_nb.sphinx_ import NbMetadataCollector
from sphinx.application import Sphinx

FILE_NAME = "execution_times.json"


def execution_times(env) -> dict[str, float]:
    """``{docname: seconds}`` for every page MyST-NB executed or took from its cache."""
    times = {}
    for docname in sorted(NbMetadataCollector.get_doc_data(env)):
        data = NbMetadataCollector.get_exec_data(env, docname)
        if data and data.get("succeeded") and data.get("runtime") is not None:
            times[docname] = round(float(data["runtime"]), 2)
    return times


def write_execution_times(app: Sphinx, exception: Exception | None) -> None:
    """After a successful build: the execution times, one entry per executed page."""
    if exception is not None:
        return
    times = execution_times(app.env)
    if times:
        path = Path(app.outdir).parent / FILE_NAME
        path.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")


def setup(app: Sphinx) -> dict:
    app.connect("build-finished", write_execution_times)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
