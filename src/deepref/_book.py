"""The book's presentation helpers: numbers, tables and figures written for reading.

The book build applies :func:`readable_number` to every number glued into the
text; chapters call :func:`format_number` for the numbers of their tables.

>>> readable_number("9.9e-03")
'9.9\\xa0×\\xa010⁻³'
>>> readable_number("1e-08")
'10⁻⁸'
>>> readable_number("123456")
'123,456'
>>> format_number(0.000123)
'1.23\\xa0×\\xa010⁻⁴'
>>> format_number(0.5)
'0.5'
>>> format_number(4.46e-16, atol=1e-12)
'0'

Conventions every chapter follows (the rendering check and
``tests/test_book_presentation.py`` hold the book to them):

Figures
    Drawn with matplotlib and shown only through :func:`glue_figure` and a
    ``{glue:figure}`` directive with a ``:name:`` and a caption, referred to by
    ``{numref}``. :func:`glue_figure` fits the figure to the text column
    (:data:`FIGURE_WIDTH` inches at most), raises every text to
    :data:`MIN_FONT_PT` points, and stores it as SVG (the HTML book) and PDF
    (the PDF edition), whatever the matplotlib backend; its alt text is the
    caption. Every axis is labelled, with units where there are any;
    symbols are written as math (``r"$x^2 - y^2$"``, ``r"$\\kappa = 50$"``,
    ``r"$\\gamma = 0.3$"``), never as spelled-out Greek.
Tables
    Every table has a number and a caption. A table written in the text is a
    ``{table}`` (or ``{list-table}``) directive with a caption and a ``:name:``;
    a table of results is :func:`number_table` with ``caption=`` and ``name=``,
    the last line of a cell. Headers are words a reader knows (``headers=``
    renames result keys such as ``late_cv`` to "CV of late ISIs"), rows of a
    gradient table are named by parameter, one number format per column,
    a rounding residue of zero printed as 0 (``atol=``). A cell never ends in
    a bare value (a raw Python repr: a dict, a list of tuples, an array), and
    a table is shown once.
Numbers in the prose
    Glued (``{glue:text}``), set in the text's weight (conf/_static/deepref.css),
    never templated ("1 time(s)"): write the sentence for the value.
Citations
    ``{cite:t}`` where the authors are the subject of the sentence ("Kingma and
    Ba (2015) propose"), ``{cite:p}`` otherwise; never the author's name followed
    by ``{cite:p}``.
Code
    Shown code fits 88 columns; plotting and bookkeeping (glue calls, timing)
    cells are folded (``hide-input``) or removed; asserts stay visible.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import math
import re
import warnings

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_TIMES = "\u00a0×\u00a0"  # no line break inside "9.9 × 10⁻³"
_E_NOTATION = re.compile(r"(?<![\w.])(-?)(\d+(?:\.\d+)?)[eE]([-+]?)0*(\d+)(?![\w.])")
_LONG_INTEGER = re.compile(r"(?<![\w.,])\d{5,}(?![\w,])")


def _power_of_ten(sign: str, mantissa: str, exp_sign: str, digits: str) -> str:
    power = "10" + (("-" if exp_sign == "-" else "") + digits).translate(_SUPERSCRIPT)
    if float(mantissa) == 1.0:
        return sign + power
    return f"{sign}{mantissa}{_TIMES}{power}"


def readable_number(text: str) -> str:
    """Rewrite the Python number literals in ``text`` as a reader writes them.

    E-notation becomes a power of ten (``9.9e-03`` to 9.9 × 10⁻³, ``1e-08`` to
    10⁻⁸) and integer parts of five or more digits get thousands separators
    (``123456`` to 123,456; four-digit numbers, often years, stay as they are).
    Other text is returned unchanged.
    """
    text = _E_NOTATION.sub(lambda m: _power_of_ten(*m.groups()), text)
    return _LONG_INTEGER.sub(lambda m: f"{int(m.group()):,}", text)


def format_number(value: float, digits: int = 3, atol: float = 0.0) -> str:
    """Format ``value`` with ``digits`` significant digits for reading.

    Magnitudes from 10⁻³ to below 10⁶ are written out (trailing zeros
    dropped, thousands separated); smaller and larger ones as a power of ten.
    A magnitude at most ``atol`` (a rounding residue of an exact zero) is 0.
    """
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if abs(value) <= atol:
        value = 0.0
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        decimals = max(digits - 1 - math.floor(math.log10(abs(value))), 0) if value else 0
        text = f"{value:,.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return readable_number(f"{value:.{digits - 1}e}")


#: The widest a figure is drawn, in inches: the text column of the HTML book at
#: 1400 px (about 7.5 in) and of the PDF edition (6.5 in), so that a figure is shown
#: at its size and its text at the size it was set in.
FIGURE_WIDTH = 6.5
#: The smallest text in a figure, in points, after fitting it to the column.
MIN_FONT_PT = 9.0
#: The smallest size of text with math in it (tick labels of a log axis, "$\\sigma_w$"):
#: its sub- and superscripts are set at 70 %, and must not fall under 9 px on screen.
MIN_MATH_FONT_PT = 10.0
#: Resolution of raster parts (images, or a whole figure too large as a vector).
RASTER_DPI = 200
#: A figure whose SVG would be larger than this many bytes is stored as a PNG at RASTER_DPI.
MAX_SVG_BYTES = 1_500_000

#: The book's matplotlib style (conf/matplotlibrc sets it for every chapter's kernel).
STYLE = {
    "figure.figsize": (6.4, 3.6),
    "font.size": 10.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 10.0,
    "xtick.labelsize": 9.0,
    "ytick.labelsize": 9.0,
    "legend.fontsize": 9.0,
    "figure.titlesize": 11.0,
    "mathtext.fontset": "dejavusans",
    "svg.fonttype": "none",  # text stays text: searchable, selectable, and measurable
    "svg.hashsalt": "deepref",  # the same figure gives the same file
    "pdf.fonttype": 42,
}


def _fit_to_column(fig) -> None:
    """Shrink a figure wider than :data:`FIGURE_WIDTH` and raise small text to :data:`MIN_FONT_PT`.

    The height shrinks with the width, but not below 2.6 in (or the figure's own
    height, if smaller), so that a row of panels keeps room for its labels.
    """
    from matplotlib.text import Text

    width, height = fig.get_size_inches()
    if width > FIGURE_WIDTH:
        scale = FIGURE_WIDTH / width
        fig.set_size_inches(FIGURE_WIDTH, max(height * scale, min(height, 2.6)), forward=False)
    for ax in fig.axes:
        for axis, labels in (("x", ax.get_xticklabels()), ("y", ax.get_yticklabels())):
            scale = getattr(ax, f"get_{axis}scale", lambda: "linear")()
            least = MIN_MATH_FONT_PT if scale != "linear" or any("$" in t.get_text() for t in labels) \
                else MIN_FONT_PT
            if any(label.get_fontsize() < least for label in labels):
                ax.tick_params(axis=axis, which="both", labelsize=least)
    for text in fig.findobj(Text):
        least = MIN_MATH_FONT_PT if "$" in text.get_text() else MIN_FONT_PT
        if text.get_fontsize() < least:
            text.set_fontsize(least)
    if fig.get_layout_engine() is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # axes tight_layout cannot place keep their places
            fig.tight_layout()


def describe_figure(fig) -> str:
    """A short text description of a figure's panels (what each plots against what)."""
    panels = []
    for ax in fig.axes:
        x, y = ax.get_xlabel(), ax.get_ylabel()
        title = ax.get_title()
        if not (x or y or title):
            continue
        what = f"{y or 'values'} against {x}" if x else (y or "")
        panels.append(": ".join(part for part in (title, what) if part))
    count = len(fig.axes)
    head = f"Figure with {count} panel{'s' if count != 1 else ''}"
    return head + (": " + "; ".join(panels) if panels else "") + "."


@contextlib.contextmanager
def _quiet_font_subsetting():
    """Silence fontTools' warnings while matplotlib subsets fonts into a PDF.

    Some fonts carry header timestamps fontTools calls "very low"; the warning
    is harmless and would otherwise print under the cell that drew the figure.
    """
    fonts = logging.getLogger("fontTools")
    level = fonts.level
    fonts.setLevel(logging.ERROR)
    try:
        yield
    finally:
        fonts.setLevel(level)


class _Figure:
    """A rendered figure as Jupyter mime data: SVG for the HTML book, PDF for the PDF edition."""

    def __init__(self, fig, alt: str | None = None):
        import matplotlib

        save = dict(bbox_inches="tight", pad_inches=0.04, dpi=RASTER_DPI)
        style = {k: STYLE[k] for k in ("svg.fonttype", "svg.hashsalt", "pdf.fonttype")}
        with matplotlib.rc_context(style), _quiet_font_subsetting():
            svg, pdf = io.BytesIO(), io.BytesIO()
            fig.savefig(svg, format="svg", metadata={"Date": None}, **save)
            fig.savefig(pdf, format="pdf", metadata={"CreationDate": None, "ModDate": None}, **save)
        self.data = {"application/pdf": base64.b64encode(pdf.getvalue()).decode("ascii"),
                     "text/plain": alt or describe_figure(fig)}
        self.metadata = {}
        if svg.tell() <= MAX_SVG_BYTES:
            self.data["image/svg+xml"] = svg.getvalue().decode("utf-8")
        else:
            png = io.BytesIO()
            fig.savefig(png, format="png", **save)
            self.data["image/png"] = base64.b64encode(png.getvalue()).decode("ascii")
            width_px = round(fig.get_size_inches()[0] * 96)
            self.metadata["image/png"] = {"width": f"{width_px}px"}

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.data, self.metadata

    def __repr__(self) -> str:
        return self.data["text/plain"]


def glue_figure(name: str, fig, alt: str | None = None) -> None:
    """Glue a matplotlib figure for a numbered ``{glue:figure}`` and close it.

    The figure then appears only where the text places it, with its number and
    caption, and not a second time under the cell that drew it. It is first fitted
    to the text column (at most :data:`FIGURE_WIDTH` inches wide, no text under
    :data:`MIN_FONT_PT` points), then stored as SVG and PDF, independent of the
    matplotlib backend (a figure drawn under ``Agg`` is not the text
    ``<Figure size ...>``). ``alt`` describes the figure to a reader who cannot see
    it; the book uses the caption where it is not given.
    """
    import matplotlib.pyplot as plt
    from myst_nb import glue

    _fit_to_column(fig)
    glue(name, _Figure(fig, alt), display=False)
    plt.close(fig)


def _cell(value, digits: int = 3, atol: float = 0.0) -> str | None:
    """A table cell for a scalar (number, string, 0-d array); None for anything else."""
    if isinstance(value, (str, bool)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    try:
        from .backend import to_numpy

        array = to_numpy(value) if not isinstance(value, (float, int)) else value
        return format_number(float(array), digits, atol)
    except (TypeError, ValueError, AttributeError):
        return None


def markdown_table(header: list[str], rows: list[list[str]], caption: str = "", name: str = "") -> str:
    """The MyST Markdown of a table, numbered and captioned when ``caption`` is given.

    >>> print(markdown_table(["a", "b"], [["1", "2"]], caption="Two numbers.", name="tab-two"))
    ```{table} Two numbers.
    :name: tab-two
    <BLANKLINE>
    | a | b |
    |---|---|
    | 1 | 2 |
    ```
    """
    escape = lambda text: str(text).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(escape, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(escape, row)) + " |" for row in rows]
    if not caption:
        return "\n".join(lines)
    options = [f":name: {name}"] if name else []
    return "\n".join([f"```{{table}} {caption}", *options, "", *lines, "```"])


def number_table(data: dict, key: str = "", value: str = "value", digits: int = 3, *,
                 caption: str = "", name: str = "", headers: dict | None = None, atol: float = 0.0):
    """A Markdown table of a result dictionary, numbers written for reading.

    ``data`` maps row names to numbers (two columns, headed ``key`` and
    ``value``) or to dictionaries of numbers (one column per inner key).
    Entries that are not scalars (arrays of results, models) are left out.
    ``caption`` (a sentence) makes it a numbered table, ``name`` its label for
    ``{numref}``; ``headers`` renames columns (``{"late_cv": "CV of late ISIs"}``);
    magnitudes at most ``atol`` are printed as 0.
    Returns an :class:`IPython.display.Markdown`, shown as a table by the book.
    """
    from IPython.display import Markdown

    headers = headers or {}
    rows = {(name_ if isinstance(name_, str) else _cell(name_, digits) or str(name_)):
            (entry if isinstance(entry, dict) else {value: entry}) for name_, entry in data.items()}
    columns = list(dict.fromkeys(column for entry in rows.values() for column in entry))
    cells = {row: {c: _cell(entry[c], digits, atol) if c in entry else "" for c in columns}
             for row, entry in rows.items()}
    columns = [c for c in columns if all(cells[row][c] is not None for row in cells)]
    header = [headers.get(key, key), *(headers.get(c, str(c)) for c in columns)]
    body = [[row, *(cells[row][c] for c in columns)] for row in cells]
    return Markdown(markdown_table(header, body, caption, name))
