"""The bibliography style: entries labelled and sorted by author and year.

The text cites author-year in round brackets: ``{cite:p}`` gives "(Kingma and
Ba, 2015)", ``{cite:t}`` (the authors are the subject of the sentence) gives
"Kingma and Ba (2015)" (reference style ``deepref_author_year_round``). The list
of references carries the same labels, "[Kingma and Ba, 2015]", in the order a
reader looks them up: by the authors as the label names them, then by year, so
that the works of one author (or of "He et al.") follow each other in year order;
two works of the same authors and year get "a" and "b".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting import BaseSortingStyle
from sphinxcontrib.bibtex.plugin import register_plugin as register_bibtex_plugin
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

STYLE_NAME = "deepref_author_year"
REFERENCE_STYLE_NAME = "deepref_author_year_round"


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


class LabelOrder(BaseSortingStyle):
    """Sort by the authors as the label writes them, then year, then title."""

    def sorting_key(self, entry):
        return _authors(entry).lower(), entry.fields.get("year", ""), entry.fields.get("title", "").lower()


class AuthorYearStyle(PlainStyle):
    """pybtex's plain entry format with author-year labels, sorted as :class:`LabelOrder`."""

    default_label_style = AuthorYearLabels
    default_sorting_style = LabelOrder


def _round() -> BracketStyle:
    return BracketStyle(left="(", right=")")


def _round_list() -> BracketStyle:
    return BracketStyle(left="(", right=")", sep="; ", sep2="; ", last_sep="; ")


@dataclass
class RoundAuthorYear(AuthorYearReferenceStyle):
    """Author-year citations in round brackets, several works separated by semicolons."""

    bracket_parenthetical: BracketStyle = field(default_factory=_round_list)
    bracket_textual: BracketStyle = field(default_factory=_round)
    bracket_author: BracketStyle = field(default_factory=_round)
    bracket_label: BracketStyle = field(default_factory=_round)
    bracket_year: BracketStyle = field(default_factory=_round)


def setup(app) -> dict:
    register_plugin("pybtex.style.formatting", STYLE_NAME, AuthorYearStyle, force=True)
    register_bibtex_plugin("sphinxcontrib.bibtex.style.referencing", REFERENCE_STYLE_NAME, RoundAuthorYear,
                           force=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
