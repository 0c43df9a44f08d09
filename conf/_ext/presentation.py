"""How the book presents code, glued numbers and unfinished chapters.

- ``literalinclude`` with ``:pyobject:`` shows the code without its docstrings
  (the API appendix renders them) and without the indentation of a method;
  ``:docstring:`` keeps them.
- A number glued into the prose (``{glue:text}``) is written for reading:
  ``9.9e-03`` becomes 9.9 × 10⁻³ and ``12345`` becomes 12,345
  (:func:`deepref._book.readable_number`).
- A chapter that is still a placeholder says so in the table of contents.
- An image in a figure without alt text gets its caption as alt text (MyST-NB
  names glued images by their hash, which a screen reader would read out).
- In the PDF edition, code the HTML folds (cells tagged ``hide-input`` or
  ``hide-cell``: plotting, bookkeeping) is left out, since paper cannot unfold it;
  the cell's output stays.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import sphinx.directives.code as sphinx_code
from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.transforms.post_transforms import SphinxPostTransform

from deepref._book import readable_number

PLACEHOLDER_MARK = "This chapter is being written."


def _docstring_lines(source: str) -> set[int]:
    """0-based line numbers of every docstring of the functions and classes in ``source``."""
    tree = ast.parse(source)
    lines: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        first = node.body[0] if node.body else None
        if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)):
            lines.update(range(first.lineno - 1, first.end_lineno))
    return lines


def code_without_docstrings(lines: list[str]) -> list[str]:
    """The lines of a function or class, dedented, with its docstrings removed.

    A body that was only a docstring keeps it (Python needs a statement).
    """
    source = textwrap.dedent("".join(lines))
    kept = source.splitlines(keepends=True)
    try:
        drop = _docstring_lines(source)
    except SyntaxError:  # not a whole definition: show it as it is
        return kept
    return [line for number, line in enumerate(kept) if number not in drop] or kept


class CodeReader(sphinx_code.LiteralIncludeReader):
    """``LiteralIncludeReader`` whose ``:pyobject:`` extract drops docstrings and dedents."""

    def pyobject_filter(self, lines, location=None):
        lines = super().pyobject_filter(lines, location=location)
        if self.options.get("pyobject") and "docstring" not in self.options:
            lines = code_without_docstrings(lines)
        return lines


class LiteralInclude(sphinx_code.LiteralInclude):
    """``literalinclude`` with a ``:docstring:`` flag that keeps docstrings."""

    option_spec = {**sphinx_code.LiteralInclude.option_spec, "docstring": directives.flag}


class ReadableGlue(SphinxTransform):
    """Write numbers glued into the text (``pasted-text``) for a reader."""

    default_priority = 500

    def apply(self, **kwargs) -> None:
        for node in self.document.findall(nodes.inline):
            if "pasted-text" not in node["classes"]:
                continue
            text = node.astext()
            readable = readable_number(text)
            if readable != text:
                node.clear()
                node += nodes.Text(readable)


class FigureAltText(SphinxPostTransform):
    """Give an image in a figure its caption as alt text when it has none."""

    default_priority = 400

    def run(self, **kwargs) -> None:
        for figure in self.document.findall(nodes.figure):
            captions = list(figure.findall(nodes.caption))
            if not captions:
                continue
            text = " ".join(captions[0].astext().split())
            for image in figure.findall(nodes.image):
                if not image.get("alt"):
                    image["alt"] = text


FOLDED_TAGS = ("tag_hide-input", "tag_hide_input", "tag_hide-cell", "tag_hide_cell")


class DropFoldedCodeOnPaper(SphinxPostTransform):
    """For the LaTeX builder, remove the source of code cells that the HTML shows folded."""

    default_priority = 400
    formats = ("latex",)

    def run(self, **kwargs) -> None:
        for cell in list(self.document.findall(nodes.container)):
            if "cell" not in cell["classes"] or not set(FOLDED_TAGS) & set(cell["classes"]):
                continue
            for child in list(cell.children):
                if isinstance(child, nodes.container) and "cell_input" in child["classes"]:
                    cell.remove(child)


_TOCTREE = re.compile(r"(```\{toctree\}.*?```)", re.DOTALL)


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def mark_placeholders(app: Sphinx, docname: str, source: list[str]) -> None:
    """In the root document's toctrees, title placeholder chapters "... (in preparation)"."""
    if docname != app.config.root_doc:
        return
    srcdir = Path(app.srcdir)

    def mark(block: re.Match) -> str:
        out = []
        for line in block.group(1).splitlines():
            entry = line.strip()
            path = srcdir / f"{entry}.md"
            if entry and not entry.startswith((":", "`")) and path.exists():
                if PLACEHOLDER_MARK in path.read_text(encoding="utf-8"):
                    line = line.replace(entry, f"{_title(path)} (in preparation) <{entry}>")
            out.append(line)
        return "\n".join(out)

    source[0] = _TOCTREE.sub(mark, source[0])


_NUMPY_SCALAR = re.compile(r"^np\.(?:float|int|uint)\d+\((.*)\)$")


def _plain_numpy_scalars(format_plain_text):
    """Wrap MyST-NB's glue formatter so NumPy 2 scalar reprs (``np.float64(0.5)``) read as numbers."""

    def format_plain(text: str, fmt_spec: str) -> str:
        match = _NUMPY_SCALAR.match(text.strip())
        return format_plain_text(match.group(1) if match else text, fmt_spec)

    return format_plain


def _patch_glue_formatting() -> None:
    from myst_nb.core import variables
    from myst_nb.ext.glue import crossref, roles

    wrapped = _plain_numpy_scalars(variables.format_plain_text)
    for module in (variables, crossref, roles):
        module.format_plain_text = wrapped


def setup(app: Sphinx) -> dict:
    _patch_glue_formatting()
    # literalinclude builds its reader by this module-level name
    sphinx_code.LiteralIncludeReader = CodeReader
    app.add_directive("literalinclude", LiteralInclude, override=True)
    app.add_transform(ReadableGlue)
    app.add_post_transform(FigureAltText)
    app.add_post_transform(DropFoldedCodeOnPaper)
    app.connect("source-read", mark_placeholders)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
