"""Execute every chapter of the book: a failing cell (or assert) fails the test.

Chapters are MyST Markdown notebooks; jupytext reads them and nbclient runs
them in a fresh kernel of this environment, so a claim in the text that stops
being true fails ``pytest`` exactly as it fails the book build.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
sys.path.insert(0, str(ROOT / "scripts"))

import check_outputs  # noqa: E402

HEADER = (BOOK / "intro.md").read_text().split("---\n")[1]


def _executable_chapters() -> list[pathlib.Path]:
    """Every executable page: whole chapters, and the section pages of a chapter split into ``book/<chapter>/``."""
    pages = [*BOOK.glob("*.md"), *BOOK.glob("*/*.md")]
    return sorted(p for p in pages if p.read_text().startswith("---\njupytext:"))


def _page_id(path: pathlib.Path) -> str:
    return path.relative_to(BOOK).with_suffix("").as_posix()


# On array-api-strict (the CPU stand-in for CuPy), chapters run under CuPy's rule:
# no implicit conversion of a backend array to NumPy (see conftest.py).
STRICT_PRELUDE = """\
from array_api_strict._array_object import Array as _Array

def _refuse(self, *args, **kwargs):
    raise TypeError(
        "implicit conversion of a backend array to a NumPy array is not allowed (CuPy refuses it too); "
        "convert explicitly with deepref.backend.to_numpy(x)"
    )

_Array.__array__ = _refuse
"""


def _missing_imports(notebook) -> list[str]:
    """Top-level packages the chapter's cells import that this environment lacks."""
    import ast
    import importlib.util

    names = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # IPython syntax: the kernel will judge
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return sorted(name for name in names if importlib.util.find_spec(name) is None)


def execute_chapter(path: pathlib.Path) -> None:
    """Run every cell of the MyST chapter at ``path``; raises ``CellExecutionError`` on a failing cell.

    Skipped, with the reason, where a package the chapter imports is not
    installed (the book and oracle extras have them all; ``nox -s tests`` installs them).
    """
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    notebook = jupytext.read(path)
    missing = _missing_imports(notebook)
    if missing:
        pytest.skip(f"{path.stem} imports {', '.join(missing)}, not installed here: pip install -e '.[book,oracle]'")
    if os.environ.get("DEEPREF_BACKEND") == "array_api_strict":
        notebook.cells.insert(0, nbformat.v4.new_code_cell(STRICT_PRELUDE))
    client = nbclient.NotebookClient(
        notebook,
        timeout=900,  # per cell; array-api-strict is several times slower than NumPy on small arrays
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        extra_arguments=["--InteractiveShell.colors=nocolor"],
    )
    client.execute()
    # what the book prints: no raw repr; nothing on stderr (on NumPy, the book's backend)
    on_numpy = os.environ.get("DEEPREF_BACKEND", "numpy") == "numpy"
    problems = check_outputs.problems_in_notebook(notebook, stderr=on_numpy)
    assert not problems, f"{path.name} prints what a reader should not see:\n" + "\n".join(problems)


@pytest.mark.chapter
@pytest.mark.parametrize("chapter", _executable_chapters(), ids=_page_id)
def test_chapter_executes(chapter):
    execute_chapter(chapter)


def _write_failing_book(folder: pathlib.Path) -> pathlib.Path:
    folder.mkdir()
    (folder / "index.md").write_text("# Test book\n\n```{toctree}\nbroken\n```\n")
    chapter = folder / "broken.md"
    chapter.write_text(f"---\n{HEADER}---\n\n# Broken\n\n```{{code-cell}} ipython3\nassert 1 + 1 == 3, 'claim'\n```\n")
    (folder / "references.bib").write_text("")
    return chapter


@pytest.mark.chapter
def test_a_failing_assert_fails_the_chapter_test_and_the_book_build(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("sphinx")
    book = tmp_path / "book"
    chapter = _write_failing_book(book)
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="claim"):
        execute_chapter(chapter)
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-b", "html", "-c", str(conf), str(book), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        env={**os.environ, "DEEPREF_JUPYTER_CACHE": str(tmp_path / "cache")},
    )
    assert build.returncode != 0
    assert "AssertionError" in build.stdout + build.stderr


def test_every_page_is_in_the_table_of_contents():
    index = (BOOK / "index.md").read_text()
    pages = {p.stem for p in BOOK.glob("*.md")} - {"index"}
    missing = sorted(p for p in pages if f"\n{p}\n" not in index)
    assert not missing, f"pages missing from book/index.md's toctree: {missing}"
    for chapter in sorted(BOOK.glob("*.md")):
        sections = sorted(p.stem for p in (BOOK / chapter.stem).glob("*.md"))
        listed = chapter.read_text()
        missing = [s for s in sections if f"\n{chapter.stem}/{s}\n" not in listed]
        assert not missing, f"section pages missing from {chapter.name}'s toctree: {missing}"
