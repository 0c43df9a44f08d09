"""The book as a reader meets it: checks on the chapter sources, without building.

Every chapter must pass these; ``scripts/check_rendering.py`` checks the built
pages in a browser (equations and code cut off at 1400 px and 414 px, math
rendered offline, figures numbered).

- every figure is a numbered, captioned ``{glue:figure}`` (or ``{figure}``)
  referred to by number, never "the figure below";
- no plotting code is shown expanded: a cell that draws is tagged
  ``hide-input`` (or removes its input);
- code shown in the book fits in 88 columns, cells and included library code
  alike (``literalinclude`` shows a function without its docstring);
- no cell ends in a bare value that prints a raw Python repr;
- every table is numbered and captioned: a table in the text is a ``{table}``
  directive with a caption, a table of results a ``number_table(..., caption=...)``;
- an author who is the subject of a sentence is cited with ``{cite:t}``, not named
  before a ``{cite:p}`` (which would print the name twice);
- the text speaks to the reader: no build budgets, no "slides" or "source notes";
- a finished chapter opens with what it teaches and closes with a summary.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
sys.path.insert(0, str(ROOT / "conf" / "_ext"))
pytest.importorskip("sphinx", reason="the book's checks read Sphinx's extensions: pip install -e '.[book]'")

from presentation import PLACEHOLDER_MARK, code_without_docstrings  # noqa: E402

WIDTH = 88
NOT_CHAPTERS = {"index", "bibliography"}
CHAPTERS = sorted(p for p in BOOK.glob("*.md") if p.stem not in NOT_CHAPTERS)
FINISHED = [p for p in CHAPTERS if PLACEHOLDER_MARK not in p.read_text(encoding="utf-8")]


def section_pages(chapter: Path) -> list[Path]:
    """The pages of a chapter split into one page per section: ``book/<chapter>/*.md``."""
    return sorted((BOOK / chapter.stem).glob("*.md"))


# every page a reader opens: each chapter's first page and its section pages
PAGES = sorted(CHAPTERS + [page for chapter in CHAPTERS for page in section_pages(chapter)])

FIGURE_START = re.compile(r"plt\.subplots\(|plt\.figure\(")
DRAWS = re.compile(r"plt\.subplots\(|plt\.figure\(|\.imshow\(|\.plot\(|\.scatter\(|\.hist\(|\.contourf?\(")
HIDDEN = ("hide-input", "remove-input", "hide-cell", "remove-cell")
# matplotlib calls whose return value Jupyter would print as a raw repr
MPL_RETURNS = {"set_title", "set_xlabel", "set_ylabel", "plot", "imshow", "legend", "text", "bar",
               "hist", "scatter", "suptitle", "annotate", "colorbar", "axhline", "axvline", "set"}
# the course material the book answers is named once, in the introduction
COURSE_MATERIAL = [r"\b(?:the|our|one of the) slides\b", r"\bsource notes\b", r"\blecture (?:notes|slides)\b"]
FORBIDDEN_PHRASES = [
    r"\bthe figure (?:below|above)\b", r"\bCPU time of this chapter\b", r"\bbuild budget\b",
    r"\bbudget of this book\b", r"\bCPU budget\b", r"\btime budget\b",
]


class Cell:
    """A code cell of a MyST notebook: its tags, its source and where it starts."""

    def __init__(self, line: int, options: list[str], source: str):
        self.line = line
        self.source = source
        tags = next((o for o in options if o.startswith(":tags:")), "")
        self.tags = set(re.findall(r"[\w-]+", tags.partition(":tags:")[2]))

    @property
    def hidden(self) -> bool:
        return bool(self.tags & set(HIDDEN))

    @property
    def removed(self) -> bool:
        """Whether the reader never sees this cell's code (not even folded)."""
        return bool(self.tags & {"remove-input", "remove-cell"})


def code_cells(text: str) -> list[Cell]:
    cells, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        if lines[i].startswith("```{code-cell}"):
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            body = lines[i + 1:j]
            options = [line for line in body if line.startswith(":")]
            source = "\n".join(line for line in body if not line.startswith(":"))
            cells.append(Cell(i + 1, options, source))
            i = j
        i += 1
    return cells


def prose(text: str) -> str:
    """The text of a chapter without its code cells, directives' code and front matter."""
    text = re.sub(r"\A---.*?---", "", text, flags=re.DOTALL)
    return re.sub(r"```\{code-cell\}.*?```", "", text, flags=re.DOTALL)


def ids(paths):
    return [p.relative_to(BOOK).with_suffix("").as_posix() for p in paths]


@pytest.mark.parametrize("chapter", PAGES, ids=ids(PAGES))
def test_plotting_code_is_folded(chapter):
    shown = [c.line for c in code_cells(chapter.read_text(encoding="utf-8"))
             if DRAWS.search(c.source) and not c.hidden]
    assert not shown, f"{chapter.name}: cells at lines {shown} draw a figure; tag them hide-input"


@pytest.mark.parametrize("chapter", PAGES, ids=ids(PAGES))
def test_every_figure_is_numbered_and_captioned(chapter):
    text = chapter.read_text(encoding="utf-8")
    drawn = sum(len(FIGURE_START.findall(c.source)) for c in code_cells(text))
    # a caption runs to the closing fence and may hold roles ({cite:t}`...`, {numref}`...`)
    glued = re.findall(r"^```\{glue:figure\}\s+(\S+)\n((?::[^\n]*\n)*)(.*?)^```", text, re.S | re.M)
    figures = re.findall(r"```\{figure\}", text)
    problems = []
    for name, options, caption in glued:
        if ":name:" not in options:
            problems.append(f"{name}: no :name: to refer to")
        if not caption.strip():
            problems.append(f"{name}: no caption")
        target = re.search(r":name:\s*(\S+)", options)
        if target and f"{{numref}}`{target.group(1)}`" not in text:
            problems.append(f"{name}: never referred to with {{numref}}")
    assert drawn <= len(glued) + len(figures), (
        f"{chapter.name}: {drawn} figures drawn, {len(glued) + len(figures)} numbered; "
        "glue each with deepref._book.glue_figure and show it with {glue:figure}")
    assert not problems, f"{chapter.name}: {problems}"


@pytest.mark.parametrize("chapter", PAGES, ids=ids(PAGES))
def test_shown_cell_code_fits(chapter):
    """Cells shown or folded (one click away) fit; only removed input is exempt."""
    long = [f"cell at line {c.line}: {line[:50]!r}..." for c in code_cells(chapter.read_text(encoding="utf-8"))
            if not c.removed for line in c.source.split("\n") if len(line) > WIDTH]
    assert not long, f"{chapter.name}: {len(long)} shown or folded code lines over {WIDTH} columns: {long[:5]}"


def included_code(chapter: Path):
    """(object, lines) for every ``literalinclude`` with ``:pyobject:`` in a chapter, as shown."""
    from sphinx.pycode import ModuleAnalyzer

    text = chapter.read_text(encoding="utf-8")
    for path, options in re.findall(r"```\{literalinclude\}\s+(\S+)\n((?::[^\n]*\n)*)", text):
        target = re.search(r":pyobject:\s*(\S+)", options)
        if not target:
            continue
        source = (chapter.parent / path).resolve()
        tags = ModuleAnalyzer.for_file(str(source), "").find_tags()
        _, start, end = tags[target.group(1)]
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)[start - 1:end]
        yield target.group(1), lines if ":docstring:" in options else code_without_docstrings(lines)


@pytest.mark.parametrize("chapter", PAGES, ids=ids(PAGES))
def test_included_code_fits(chapter):
    long = [f"{name}: {line.strip()[:50]!r}" for name, lines in included_code(chapter)
            for line in lines if len(line.rstrip("\n")) > WIDTH]
    assert not long, f"{chapter.name}: {len(long)} included code lines over {WIDTH} columns: {long[:5]}"


def ends_in_raw_value(source: str) -> bool:
    """Whether Jupyter would print the cell's last expression as a raw repr."""
    if source.rstrip().endswith(";"):
        return False
    try:
        body = ast.parse(source).body
    except SyntaxError:  # IPython magics: not ours to judge
        return False
    if not body or not isinstance(body[-1], ast.Expr):
        return False
    value = body[-1].value
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return False
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in MPL_RETURNS
    return True


@pytest.mark.parametrize("chapter", PAGES, ids=ids(PAGES))
def test_no_cell_ends_in_a_raw_value(chapter):
    raw = [c.line for c in code_cells(chapter.read_text(encoding="utf-8"))
           if "remove-output" not in c.tags and "remove-cell" not in c.tags and ends_in_raw_value(c.source)]
    assert not raw, (f"{chapter.name}: cells at lines {raw} end in a bare value (a raw repr in the book); "
                     "show a table or glue formatted numbers")


# bookkeeping a reader need not read: folded into a hide-input cell after the computation
BOOKKEEPING_CALLS = {"glue", "glue_figure", "publish", "markdown_table", "number_table"}
TIMING = {"perf_counter", "perf_counter_ns", "process_time", "process_time_ns", "timeit"}
BOOKKEEPING_WORDS = re.compile(
    r"\b(?:(glue|glue_figure|publish|markdown_table|number_table)\(|(perf_counter|process_time|timeit)\w*)")
MAX_SHOWN_LINES = 45


def bookkeeping(source: str) -> list[tuple[int, str]]:
    """(line of the cell, what) for each bookkeeping call and each use of a timer in ``source``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics (%timeit): look at the words
        return sorted({(number, m.group(1) + "(" if m.group(1) else m.group(2))
                       for number, line in enumerate(source.split("\n"), 1)
                       for m in BOOKKEEPING_WORDS.finditer(line.partition("#")[0])})
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in BOOKKEEPING_CALLS:
                found.add((node.lineno, f"{name}("))
        names = [node.attr] if isinstance(node, ast.Attribute) else [node.id] if isinstance(node, ast.Name) else []
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name.split(".")[0] for alias in node.names]
        found.update((node.lineno, name) for name in names if name in TIMING)
    return sorted(found)


def unfolded_bookkeeping(text: str) -> list[str]:
    """Where a shown code cell of a page holds bookkeeping or runs over ``MAX_SHOWN_LINES`` lines."""
    lines, problems = text.split("\n"), []
    for cell in code_cells(text):
        if cell.hidden:
            continue
        options = 0  # the cell's option lines (:tags:), between its fence and its source
        while lines[cell.line + options].startswith(":"):
            options += 1
        for number, what in bookkeeping(cell.source):
            problems.append(f"line {cell.line + options + number}: `{what}` in a shown cell; move it "
                            "into a cell tagged `:tags: [hide-input]` right after the computation")
        length = len(cell.source.strip("\n").split("\n"))
        if length > MAX_SHOWN_LINES:
            problems.append(f"line {cell.line}: a shown cell of {length} lines (at most {MAX_SHOWN_LINES}); "
                            "split it at a natural point or fold its bookkeeping into a hide-input cell")
    return problems


@pytest.mark.parametrize("chapter", PAGES, ids=ids(PAGES))
def test_bookkeeping_is_folded(chapter):
    """Shown code is what a reader should read: the computation and its asserts. Gluing numbers,
    printing tables for the text and timing go into folded cells; no shown cell is over 45 lines."""
    problems = unfolded_bookkeeping(chapter.read_text(encoding="utf-8"))
    assert not problems, (f"{chapter.relative_to(BOOK)}: {len(problems)} problems:\n  "
                          + "\n  ".join(problems))


def test_the_bookkeeping_rule_catches_what_it_forbids():
    def page(tags: str, source: str) -> str:
        return f"# Page\n\n```{{code-cell}} ipython3\n{tags}\n{source}\n```\n"

    computed = "import time\n\nstart = time.perf_counter()\nx = 2 * 3\nassert x == 6\n"
    bookkept = computed + "glue('x', x, display=False)\nnumber_table({'x': x}, caption='X.')\n"
    found = unfolded_bookkeeping(page("", bookkept))
    assert [problem.split(":")[0] for problem in found] == ["line 7", "line 10", "line 11"]
    assert "`perf_counter`" in found[0] and "`glue(`" in found[1] and "`number_table(`" in found[2]
    assert "hide-input" in found[1]
    assert unfolded_bookkeeping(page(":tags: [hide-input]\n", bookkept)) == []
    assert unfolded_bookkeeping(page("", "x = 1  # glue(x) in a hidden cell\ns = 'glue('")) == []
    assert bookkeeping("%timeit f(x)\nglue('t', t)") == [(1, "timeit"), (2, "glue(")]
    long = "\n".join(f"x{i} = {i}" for i in range(MAX_SHOWN_LINES + 1))
    assert unfolded_bookkeeping(page("", long[: long.rindex("\n")])) == []
    assert unfolded_bookkeeping(page("", long)) == [
        f"line 3: a shown cell of {MAX_SHOWN_LINES + 1} lines (at most {MAX_SHOWN_LINES}); split it at "
        "a natural point or fold its bookkeeping into a hide-input cell"]


def uncaptioned_tables(text: str) -> list[str]:
    """The first line of every Markdown table outside a ``{table}`` directive, and of every
    ``number_table(...)`` call without a caption."""
    found, inside, previous = [], False, ""
    for line in text.split("\n"):
        if line.startswith("```{table}"):
            inside = True
        elif inside and line.startswith("```"):
            inside = False
        elif line.startswith("|") and not previous.startswith("|") and not inside:
            found.append(line[:60])
        previous = line
    for cell in code_cells(text):
        for call in re.finditer(r"number_table\((.*?)\n\)|number_table\(([^\n]*)\)$", cell.source,
                                re.DOTALL | re.MULTILINE):
            if "caption=" not in call.group(0):
                found.append(f"number_table at cell line {cell.line}")
    return found


@pytest.mark.parametrize("chapter", PAGES, ids=ids(PAGES))
def test_every_table_is_numbered_and_captioned(chapter):
    found = uncaptioned_tables(chapter.read_text(encoding="utf-8"))
    assert not found, (f"{chapter.name}: tables without a caption: {found[:5]}; wrap them in a "
                       "```{table} Caption``` directive with a :name:, or pass caption= to number_table")


AUTHOR_BEFORE_CITATION = re.compile(
    r"\b(?:[A-Z][\w'-]+ et al\.|[A-Z][\w'-]+ and [A-Z][\w'-]+)\s+\{cite:p\}`([^`]+)`")


@pytest.mark.parametrize("chapter", PAGES, ids=ids(PAGES))
def test_no_author_is_named_twice(chapter):
    text = prose(chapter.read_text(encoding="utf-8"))
    twice = [m.group(0)[:60] for m in AUTHOR_BEFORE_CITATION.finditer(text)
             if m.group(0).split()[0].lower()[:4] == m.group(1).split(",")[0][:4]]
    assert not twice, f"{chapter.name}: write {{cite:t}} where the authors are the subject: {twice}"


@pytest.mark.parametrize("chapter", PAGES, ids=ids(PAGES))
def test_text_speaks_to_the_reader(chapter):
    text = prose(chapter.read_text(encoding="utf-8"))
    patterns = FORBIDDEN_PHRASES + (COURSE_MATERIAL if chapter.stem != "intro" else [])
    found = [m.group(0) for pattern in patterns for m in re.finditer(pattern, text, re.IGNORECASE)]
    assert not found, f"{chapter.name}: {found}"


@pytest.mark.parametrize("chapter", FINISHED, ids=ids(FINISHED))
def test_chapter_opens_with_goals_and_closes_with_a_summary(chapter):
    text = chapter.read_text(encoding="utf-8")
    assert re.search(r"```\{admonition\} In this chapter", text), (
        f"{chapter.name}: open with an ```{{admonition}} In this chapter``` box (what the reader will "
        "learn, what it assumes)")
    pages = [text] + [page.read_text(encoding="utf-8") for page in section_pages(chapter)]
    assert any(re.search(r"^#{1,2} Summary\s*$", page, re.MULTILINE) for page in pages), (
        f"{chapter.name}: close with a '## Summary' (or, split into pages, a '# Summary' page)")


def test_placeholder_chapters_are_marked_in_the_contents():
    from presentation import mark_placeholders

    class App:
        srcdir = str(BOOK)

        class config:
            root_doc = "index"

    source = [(BOOK / "index.md").read_text(encoding="utf-8")]
    mark_placeholders(App, "index", source)
    for chapter in set(CHAPTERS) - set(FINISHED):
        assert f"(in preparation) <{chapter.stem}>" in source[0], chapter.name
    for chapter in FINISHED:
        assert f"<{chapter.stem}>" not in source[0], chapter.name


def test_glued_numbers_read_as_numbers():
    from deepref._book import readable_number

    assert readable_number("9.9e-03") == "9.9\u00a0×\u00a010⁻³"
    assert readable_number("5.3e+30") == "5.3\u00a0×\u00a010³⁰"
    assert readable_number("1e-08") == "10⁻⁸"
    assert readable_number("123456 and 2015") == "123,456 and 2015"
    assert readable_number("0.123") == "0.123"


def test_included_code_drops_docstrings_and_indentation():
    method = [
        "    def forward(self, x):\n",
        '        """Apply the layer.\n',
        "\n",
        "        x : (N, D)\n",
        '        """\n',
        "        return x @ self.w\n",
    ]
    assert code_without_docstrings(method) == ["def forward(self, x):\n", "    return x @ self.w\n"]


def test_api_appendix_has_a_page_for_every_module_and_an_entry_for_every_public_name():
    import importlib
    import pkgutil

    import apiref

    import deepref

    documented = {module.__name__: module for module in apiref.documented_modules()}
    for info in pkgutil.iter_modules(deepref.__path__):
        if info.name.startswith("_"):
            continue
        name = f"deepref.{info.name}"
        try:
            importlib.import_module(name)
        except ImportError:
            continue  # a module being written; the build leaves it out with a message
        assert name in documented, name
    for name, module in documented.items():
        page = apiref.module_page(module)
        for entry in apiref.public_names(module):
            assert f":py:obj:`{entry}`" in page and f":: {entry}\n" in page, (name, entry)
    assert "Linear" in apiref.public_names(deepref.nn)  # re-exported names are the package's
    assert "deepref.nn.init" in documented  # a namespace of its own gets its own page
    assert "deepref.nn.linear" not in documented  # a source file of re-exported names does not


def test_each_pages_execution_time_is_recorded_and_summed_per_chapter(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import exectimes

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_book

    env = SimpleNamespace(nb_metadata={
        "optimization/sgd": {"exec_data": {"runtime": 3.5, "succeeded": True}},
        "optimization/momentum": {"exec_data": {"runtime": 2.25, "succeeded": True}},
        "intro": {"exec_data": {"runtime": 1.0, "succeeded": True}},
        "practice": {"exec_data": {"runtime": 9.0, "succeeded": False}},  # a failed run has no time
        "bibliography": {},  # not a notebook
    })
    times = exectimes.execution_times(env)
    assert times == {"intro": 1.0, "optimization/momentum": 2.25, "optimization/sgd": 3.5}
    outdir = tmp_path / "html"
    outdir.mkdir()
    exectimes.write_execution_times(SimpleNamespace(env=env, outdir=str(outdir)), None)
    record = tmp_path / exectimes.FILE_NAME
    assert record.exists()
    # the benchmark sums a chapter's pages and leaves out a page that no longer exists
    existing = {p.stem for p in (BOOK / "optimization").glob("*.md")}
    page = sorted(existing)[0]
    record.write_text(f'{{"optimization/{page}": 3.5, "optimization/no-such-page": 99.0, "intro": 1.0}}')
    monkeypatch.setattr(bench_book, "RECORD", record)
    assert bench_book._from_last_build() == {"intro": 1.0, "optimization": 3.5}
