"""The bibliography style: entries labelled and sorted by author and year.

The text cites author-year (``{cite:p}`` gives "(Kingma and Ba, 2015)"), so
the list of references carries the same labels, "[Kingma and Ba, 2015]", in
alphabetical order; two works of the same authors and year get "a" and "b".
"""

from __future__ import annotations

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle

STYLE_NAME = "deepref_author_year"


def _last_name(person) -> str:
    return " ".join(Text.from_latex(part).render_as("text") for part in person.last_names)


def _authors(entry) -> str:
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_last_name(person) for person in persons]
    if not names:
        return entry.fields.get("organization") or entry.fields.get("title", "Anonymous")
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]} et al."


class AuthorYearLabels(BaseLabelStyle):
    """Labels such as "Kingma and Ba, 2015" or "He et al., 2016a"."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [f"{_authors(entry)}, {entry.fields.get('year', 'n.d.')}" for entry in entries]
        counts = Counter(labels)
        seen: Counter = Counter()
        for label in labels:
            if counts[label] > 1:
                seen[label] += 1
                label = f"{label}{chr(ord('a') + seen[label] - 1)}"
            yield label


class AuthorYearStyle(PlainStyle):
    """pybtex's plain entry format with author-year labels, sorted by author, year, title."""

    default_label_style = AuthorYearLabels
    default_sorting_style = "author_year_title"


def setup(app) -> dict:
    register_plugin("pybtex.style.formatting", STYLE_NAME, AuthorYearStyle, force=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
