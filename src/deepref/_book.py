"""Numbers written for reading, for the book's prose and tables.

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
"""

from __future__ import annotations

import math
import re

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


def format_number(value: float, digits: int = 3) -> str:
    """Format ``value`` with ``digits`` significant digits for reading.

    Magnitudes from 10⁻³ to below 10⁶ are written out (trailing zeros
    dropped, thousands separated); smaller and larger ones as a power of ten.
    """
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        decimals = max(digits - 1 - math.floor(math.log10(abs(value))), 0) if value else 0
        text = f"{value:,.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return readable_number(f"{value:.{digits - 1}e}")


def glue_figure(name: str, fig) -> None:
    """Glue a matplotlib figure for a numbered ``{glue:figure}`` and close it.

    The figure then appears only where the text places it, with its number and
    caption, and not a second time under the cell that drew it.
    """
    import matplotlib.pyplot as plt
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)


def _cell(value) -> str | None:
    """A table cell for a scalar (number, string, 0-d array); None for anything else."""
    if isinstance(value, (str, bool)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    try:
        from .backend import to_numpy

        array = to_numpy(value) if not isinstance(value, (float, int)) else value
        return format_number(float(array))
    except (TypeError, ValueError, AttributeError):
        return None


def number_table(data: dict, key: str = "", value: str = "value", digits: int = 3):
    """A Markdown table of a result dictionary, numbers written for reading.

    ``data`` maps row names to numbers (two columns, headed ``key`` and
    ``value``) or to dictionaries of numbers (one column per inner key).
    Entries that are not scalars (arrays of results, models) are left out.
    Returns an :class:`IPython.display.Markdown`, shown as a table by the book.
    """
    from IPython.display import Markdown

    rows = {str(name): (entry if isinstance(entry, dict) else {value: entry}) for name, entry in data.items()}
    columns = list(dict.fromkeys(column for entry in rows.values() for column in entry))
    cells = {name: {c: _cell(entry[c]) if c in entry else "" for c in columns} for name, entry in rows.items()}
    columns = [c for c in columns if all(cells[name][c] is not None for name in cells)]
    lines = ["| " + " | ".join([key, *map(str, columns)]) + " |",
             "|" + "---|" * (len(columns) + 1)]
    lines += ["| " + " | ".join([name, *(cells[name][c] for c in columns)]) + " |" for name in cells]
    return Markdown("\n".join(lines))
