"""The API reference lists every parameter of every public callable.

The appendix (``conf/_ext/apiref.py``) documents each public function and class of
every module, and the public methods of those classes, from their numpydoc
docstrings through napoleon. Here each docstring goes through the same two steps
as in the build (:func:`apiref.complete_parameters`, then napoleon's
``NumpyDocstring``), and the ``:param:`` fields that come out are compared with
:func:`inspect.signature`: none may be missing. Where the HTML book has been
built, its pages are checked as well. No Sphinx build is run: this takes a second.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "conf" / "_ext"))
pytest.importorskip("sphinx", reason="the book's checks read Sphinx's extensions: pip install -e '.[book]'")

import apiref  # noqa: E402

HTML = ROOT / "build" / "html" / "api" / "generated"


def documented_callables():
    """(full name, object, autodoc's kind) of every callable the appendix documents."""
    for module in apiref.documented_modules():
        for name in apiref.public_names(module):
            obj = getattr(module, name)
            full = f"{module.__name__}.{name}"
            if inspect.isclass(obj):
                yield full, obj, "class"
                for member, value in vars(obj).items():
                    function = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
                    if member.startswith("_") or not inspect.isfunction(function) or not function.__doc__:
                        continue
                    yield f"{full}.{member}", getattr(obj, member), "method"
            else:
                yield full, obj, "function"


CALLABLES = list(documented_callables())


def rendered_parameters(obj, kind: str) -> set[str]:
    """The parameter names napoleon writes as ``:param:`` fields, after apiref completes the docstring."""
    from sphinx.ext.napoleon import Config
    from sphinx.ext.napoleon.docstring import NumpyDocstring
    from sphinx.util.docstrings import prepare_docstring

    lines = prepare_docstring(inspect.getdoc(obj) or "")
    apiref.complete_parameters(obj, kind, lines)
    config = Config(napoleon_google_docstring=False, napoleon_numpy_docstring=True, napoleon_use_param=True)
    out = NumpyDocstring(lines, config, what=kind, obj=obj).lines()
    names = set()
    for line in out:
        match = re.match(r":param (?:[^:]*\s)?([^\s:]+):", line)
        if match:
            names.update(n.strip().replace("\\", "").lstrip("*") for n in match.group(1).split(","))
    return names


def test_the_appendix_documents_callables():
    assert len(CALLABLES) > 300


@pytest.mark.parametrize("full,obj,kind", CALLABLES, ids=[c[0] for c in CALLABLES])
def test_every_parameter_is_listed(full, obj, kind):
    expected = {p.name for p in apiref.signature_parameters(obj, kind)}
    missing = expected - rendered_parameters(obj, kind)
    assert not missing, f"{full}: parameters not in the rendered list: {sorted(missing)}"


def test_a_missing_parameter_is_added_with_its_annotation_and_default():
    def f(x, y: int = 3, *rest, **options):
        """Do something.

        Parameters
        ----------
        x : array
            The input.

        Returns
        -------
        array
        """

    lines = inspect.getdoc(f).splitlines()
    assert apiref.complete_parameters(f, "function", lines) == ["y", "rest", "options"]
    section = lines[lines.index("Parameters"):lines.index("Returns")]
    assert "y : int, default 3" in section and "*rest" in section and "**options" in section
    assert section.index("y : int, default 3") > section.index("x : array")


def test_a_docstring_without_parameters_gets_the_section_before_its_other_sections():
    def g(a, b=None):
        """Summary.

        Returns
        -------
        int
        """

    lines = inspect.getdoc(g).splitlines()
    apiref.complete_parameters(g, "function", lines)
    assert lines.index("Parameters") < lines.index("Returns")
    assert {"a", "b : default None"} <= set(lines)


def test_the_constants_chapters_use_are_documented():
    import deepref

    pages = {module.__name__: apiref.module_page(module) for module in apiref.documented_modules()}
    for module, name in [("deepref.landscape", "ROSENBROCK"), ("deepref.neuro", "IZHIKEVICH_PARAMETERS"),
                         ("deepref.rnn", "ADDING_BASELINE_MSE")]:
        page = pages[module]
        assert f".. py:data:: {name}" in page, (module, name)
        assert apiref.constant_doc(sys.modules[module], name), f"{module}.{name} has no docstring"
    assert deepref.rnn.ADDING_BASELINE_MSE == pytest.approx(1 / 6)


@pytest.mark.skipif(not HTML.is_dir(), reason="the HTML book has not been built (nox -s docs)")
def test_built_pages_list_every_parameter():
    """In the built pages, each documented function's entry names each of its parameters.

    Functions added to the library after the last build are not in the pages yet and are passed over.
    """
    checked, pages = 0, {}
    for full, obj, kind in CALLABLES:
        if kind != "function":
            continue
        module = full.rsplit(".", 1)[0]
        page = HTML / f"{module}.html"
        if not page.exists():
            continue
        if page not in pages:
            pages[page] = page.read_text(encoding="utf-8")
        html = pages[page]
        start = html.find(f'id="{full}"')
        if start < 0:  # added to the library after the book was built
            continue
        following = html.find('id="deepref.', start + 1)
        entry = re.sub(r"<[^>]+>", " ", html[start:following if following > 0 else len(html)])
        for param in apiref.signature_parameters(obj, kind):
            assert re.search(rf"\b{re.escape(param.name)}\b", entry), f"{full}: {param.name} not in the page"
        checked += 1
    assert checked > 100
