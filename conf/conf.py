"""Sphinx configuration of the deepref book (``sphinx-build -c conf book build/html``)."""

import os
import sys

# The kernel that executes chapters must be this environment's, not a `python3`
# kernelspec found earlier on the Jupyter path (it could not import deepref).
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    [os.path.join(sys.prefix, "share", "jupyter"), *filter(None, [os.environ.get("JUPYTER_PATH")])]
)

# Chapters multiply small matrices: one BLAS thread is faster than several
# that wait on each other on a small machine (and makes timings repeatable).
# Kernels started for the chapters inherit this environment.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Every chapter's kernel draws in the book's matplotlib style (deepref._book.STYLE:
# fonts of 9-11 pt, text kept as text in SVG), written here as a matplotlibrc that
# the kernels find through MATPLOTLIBRC. deepref._book.glue_figure then fits each
# figure to the column and stores it as SVG (HTML) and PDF (LaTeX).
def _write_matplotlibrc() -> str:
    from deepref._book import STYLE

    def value(v):
        return ", ".join(map(str, v)) if isinstance(v, tuple) else str(v)

    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "matplotlib")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "matplotlibrc")
    text = "".join(f"{key}: {value(v)}\n" for key, v in STYLE.items())
    if not os.path.exists(path) or open(path, encoding="utf-8").read() != text:
        with open(path, "w", encoding="utf-8") as rc:
            rc.write(text)
    return os.path.abspath(path)


os.environ["MATPLOTLIBRC"] = _write_matplotlibrc()

project = "deepref"
author = "The deepref authors"
copyright = "2026, The deepref authors"
release = "0.1.0"

# Local extensions (conf/_ext): the API appendix, the presentation of code and
# glued numbers, the bibliography style, the pages' execution times.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ext"))

extensions = [
    "myst_nb",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx_design",
    "sphinx_copybutton",
    "sphinxcontrib.bibtex",
    "apiref",
    "bibstyle",
    "presentation",
    "exectimes",
]

root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "substitution"]
myst_dmath_double_inline = True

# Execution: every cell runs; an error fails the build. The cache keys only on
# cell text, so CI (DEEPREF_FORCE_EXECUTION=1) always re-executes.
nb_execution_mode = "force" if os.environ.get("DEEPREF_FORCE_EXECUTION") else "cache"
nb_execution_cache_path = os.environ.get(
    "DEEPREF_JUPYTER_CACHE", os.path.join(os.path.dirname(__file__), "..", "build", ".jupyter_cache")
)
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 180
nb_kernel_rgx_aliases = {".*": "python3"}
nb_merge_streams = True

# One BibTeX file per chapter family (references.bib, references_<topic>.bib): a key
# must appear in only one of them.
bibtex_bibfiles = sorted(
    os.path.relpath(path, os.path.dirname(os.path.abspath(__file__)))
    for path in __import__("glob").glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "book", "*.bib"))
)
bibtex_default_style = "deepref_author_year"  # conf/_ext/bibstyle.py
bibtex_reference_style = "deepref_author_year_round"  # conf/_ext/bibstyle.py: (Kingma and Ba, 2015)

# The build runs offline: the inventories are local files (conf/inventories/make_inventories.py
# lists the objects the book links to); the links point to the official documentation.
_INVENTORIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inventories")
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", os.path.join(_INVENTORIES, "python.inv")),
    "numpy": ("https://numpy.org/doc/stable", os.path.join(_INVENTORIES, "numpy.inv")),
}

html_theme = "sphinx_book_theme"
html_title = "deepref"
html_static_path = ["_static"]
html_theme_options = {
    "show_toc_level": 2,
    # one search box: the one in the left sidebar (the header's would be a second)
    "navbar_persistent": [],
    "use_download_button": True,
}
html_css_files = ["deepref.css"]
# conf/_static/deepref.js: tables in a scroll box; boxes that scroll show a cue.
html_js_files = [("deepref.js", {"defer": "defer"})]

# Math renders offline: MathJax ships with the book (conf/_static/mathjax/README.md).
mathjax_path = "mathjax/tex-chtml-full.js"

# Chapters are numbered (the root toctree is :numbered:), and so are equations
# and figures within each chapter: (3.12), Fig. 3.2.
numfig = True
numfig_secnum_depth = 1
math_numfig = True
math_eqref_format = "({number})"

# The API appendix (book/api): autodoc reads the numpydoc docstrings.
# conf/_ext/apiref.py writes one page per module. Docstrings are not inherited
# from outside the library (concurrent.futures' would be shown as ours).
autodoc_inherit_docstrings = False
autodoc_member_order = "bysource"
# The signature shows every parameter with its annotation; the numpydoc sections
# (napoleon) describe them, and apiref.py adds a line for any parameter a docstring
# leaves out, so that the Parameters list is complete (tests/test_api_reference.py).
autodoc_typehints = "signature"
# A long signature is one parameter a line (it would otherwise widen a phone's page).
python_maximum_signature_line_length = 60
# The contents on the right name an entry without its module (not clipped).
toc_object_entries_show_parents = "hide"
autodoc_default_options = {"exclude-members": "__init__, __new__"}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True  # an "Attributes" section is a field list, not a second entry


# Tables that chapters display (deepref._book.number_table) are Markdown.
nb_render_markdown_format = "myst"


# The PDF edition (nox -s pdf: Sphinx's LaTeX builder, then latexmk with LuaLaTeX).
# LuaLaTeX reads the book's Unicode (×, 10⁻³, Greek in tables) directly; the DejaVu
# fonts have every glyph it uses. Figures come from the same executed notebooks: the
# LaTeX builder takes the PDF that deepref._book.glue_figure stores beside the SVG
# (MyST-NB's LaTeX priority puts application/pdf first; a PNG is the fallback).
# The text block is 6.7 in wide, so a figure drawn at deepref._book.FIGURE_WIDTH
# (6.5 in) is shown at its size and its text at the size it was set in; long code
# lines wrap (Sphinx's default), and equations are numbered by chapter as in the HTML.
latex_engine = "lualatex"
latex_use_xindy = False  # makeindex (TeX Live base) builds the index; xindy is another package
latex_documents = [(root_doc, "deepref.tex", "deepref: Deep learning, derived and executed", author, "manual")]
latex_show_urls = "footnote"
latex_elements = {
    "papersize": "letterpaper",
    "pointsize": "10pt",
    "fontpkg": r"""
\setmainfont{DejaVu Serif}[Scale=0.92]
\setsansfont{DejaVu Sans}[Scale=0.92]
\setmonofont{DejaVu Sans Mono}[Scale=0.8]
""",
    "sphinxsetup": "hmargin={0.9in,0.9in}, vmargin={0.9in,0.9in}, verbatimwrapslines=true, "
                   "verbatimforcewraps=true",
    "preamble": r"\numberwithin{equation}{chapter}",
    "figure_align": "htbp",
}
nb_mime_priority_overrides = [
    ("latex", "application/pdf", 10),
    ("latex", "image/png", 20),
    ("latex", "image/svg+xml", None),  # not read by LaTeX: never chosen
]
