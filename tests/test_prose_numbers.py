"""Numbers in a chapter's prose come from executed cells, never typed by hand.

The test reads every page of the book and fails on a number with a decimal
point (``0.09``, ``.5``) or a percentage (``3%``, ``12 percent``) in running
text. Exempt are the places where such a number is not a claim of ours:
glued values (``{glue:text}``), math, inline and fenced code, directive
options, link targets, sentences and table rows that carry a citation, and
tables whose header row does (a published figure quoted beside its source),
and the constants in :data:`ALLOWED`. Whole numbers ("three seeds", "64 pixels") are not checked:
they are sizes and counts set by the code, not measured outcomes.
"""

from __future__ import annotations

import pathlib
import re

import pytest

BOOK = pathlib.Path(__file__).resolve().parents[1] / "book"

# Constants that may be typed: exact definitions, not measured outcomes.
# The usual hyperparameter settings are inputs the text names (a learning rate of 0.01,
# PyTorch's momentum 0.9), not outcomes, and may stay typed.
ALLOWED = {"0.5", "1.0", "0.1", "0.01", "0.001", "0.9", "0.99", "0.999"}

# Fenced blocks whose body is code or math (the bodies of other directives are prose: captions, notes).
CODE_FENCE = re.compile(r"^(`{3,}|:{3,})\s*(\{(code-cell|literalinclude|math|code|code-block)\}.*|[A-Za-z0-9_+-]*)$")
FENCE = re.compile(r"^(`{3,}|:{3,})")
INLINE_PATTERNS = [
    re.compile(r"\$\$.*?\$\$", re.S),  # display math written inline
    re.compile(r"(?<!\\)\$[^$\n]+?(?<!\\)\$"),  # inline math
    re.compile(r"\{[a-zA-Z:_-]+\}`[^`]*`"),  # roles: {glue:text}`x:.3f`, {eq}`...`, {numref}`...`
    re.compile(r"`[^`\n]*`"),  # inline code
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"<[^>\n]+>"),  # html / autolinks
    re.compile(r"https?://\S+"),
]
NUMBER = re.compile(
    r"(?<![\w.])(\d*\.\d+)(?![\w.]*\d)"  # a decimal number not inside a word, version or code name
    r"|(?<![\w.])(\d+(?:\.\d+)?)\s?(%|percent\b)"  # a percentage
)
TARGET = re.compile(r"^\(.+\)=$")  # a label line: (sec-name)=
SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+(?=[A-Z(*_\[])")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of the running-text lines of a MyST page.

    Drops the front matter, code and math blocks, directive options and
    comment lines (each replaced by an empty line, which ends a paragraph);
    keeps directive bodies such as figure captions.
    """
    lines = text.splitlines()
    kept, start = [], 0
    if lines and lines[0] == "---":
        start = lines.index("---", 1) + 1
    stack: list[tuple[str, bool]] = []  # (fence, skip body)
    in_math = False
    for number, line in enumerate(lines[start:], start=start + 1):
        stripped = line.strip()
        fence = FENCE.match(stripped)
        if fence and stack and stripped == stack[-1][0]:
            stack.pop()
            kept.append((number, ""))
            continue
        if fence and not (stack and stack[-1][1]):
            stack.append((fence.group(1), bool(CODE_FENCE.match(stripped))))
            kept.append((number, ""))
            continue
        if stack and stack[-1][1]:
            continue
        if stripped.startswith("$$"):
            # "$$" opens or closes a display block ("$$ (label)" closes); "$$ x $$" is one line.
            one_line = len(stripped) > 2 and stripped.endswith("$$") and not in_math
            in_math = False if in_math else not one_line
            kept.append((number, ""))
            continue
        if in_math or stripped.startswith((":", "%", "+++")) or TARGET.match(stripped):
            kept.append((number, ""))
            continue
        kept.append((number, line))
    return kept


def _mask(text: str) -> str:
    for pattern in INLINE_PATTERNS:
        text = pattern.sub(" ", text)
    return text


def typed_numbers(text: str) -> list[tuple[int, str, str]]:
    """``(line, number, context)`` for every hand-typed decimal or percentage in the prose of ``text``."""
    lines = prose_lines(text)
    found = []
    # Paragraphs: runs of prose lines between blank or skipped lines; each table row stands alone.
    paragraphs: list[list[tuple[int, str]]] = [[]]
    in_table = cited_table = False
    for number, line in lines:
        row = line.lstrip().startswith("|")
        if row and not in_table:
            cited_table = "{cite" in line  # a table whose header cites its source quotes it
        in_table = row
        if row:
            if not cited_table:
                paragraphs.extend([[(number, line)], []])
        elif line.strip():
            paragraphs[-1].append((number, line))
        else:
            paragraphs.append([])
    for paragraph in filter(None, paragraphs):
        joined = " ".join(line for _, line in paragraph)
        first_line = paragraph[0][0]
        for sentence in SENTENCE_END.split(joined):
            if "{cite" in sentence:
                continue  # a published figure beside its source
            for match in NUMBER.finditer(_mask(sentence)):
                value = match.group(1) or match.group(2)
                if value in ALLOWED and not match.group(3):
                    continue
                line = next((n for n, text_ in paragraph if value in text_), first_line)
                found.append((line, match.group(0).strip(), sentence.strip()[:120]))
    return found


def _pages() -> list[pathlib.Path]:
    """Every page: chapters, and the section pages of a chapter split into ``book/<chapter>/``."""
    return sorted([*BOOK.glob("*.md"), *(p for p in BOOK.glob("*/*.md") if p.parent.name != "api")])


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(BOOK).with_suffix("").as_posix())
def test_no_number_typed_by_hand_in_the_prose(page):
    problems = typed_numbers(page.read_text())
    report = "\n".join(f"  {page.name}:{line}: {value!r} in: {context}" for line, value, context in problems)
    assert not problems, f"numbers typed in the prose (glue them from a cell, or cite their source):\n{report}"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The error is 0.09 after training.", ["0.09"]),
        ("About 30% of the units die.", ["30%"]),
        ("It ends at {glue:text}`err:.3f`, below $0.5 \\sigma$.", []),
        ("Srivastava et al. report 1.60% {cite}`srivastava2014dropout`.", []),
        ("Call `f(0.1)` with a rate of 0.5.", []),
        ("Version v2.0 and float64 are names.", []),
        ("```{code-cell} ipython3\nx = 0.25\n```\nDone.", []),
        ("$$\nx = 0.25\n$$ (eq)\n\nDone.", []),
        ("```{glue:figure} fig\n:name: fig-x\n\nA caption with 0.3 in it.\n```", ["0.3"]),
        ("| a | 0.25 |\n| b | {glue:text}`x` |", ["0.25"]),
        ("| paper {cite}`x` | |\n|---|---|\n| a | 1.60% |", []),
    ],
)
def test_the_detector(text, expected):
    assert [value for _, value, _ in typed_numbers(text)] == expected
