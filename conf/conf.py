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

project = "deepref"
author = "The deepref authors"
copyright = "2026, The deepref authors"
release = "0.1.0"

# Local extensions (conf/_ext): the API appendix, the presentation of code and
# glued numbers, the bibliography style.
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
bibtex_reference_style = "author_year"

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
    "use_download_button": True,
}
html_css_files = ["deepref.css"]

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
autodoc_typehints = "description"
autodoc_default_options = {"exclude-members": "__init__, __new__"}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True  # an "Attributes" section is a field list, not a second entry


# Tables that chapters display (deepref._book.number_table) are Markdown.
nb_render_markdown_format = "myst"
