"""Execute every chapter of the book: a failing cell (or assert) fails the test.

Chapters are MyST Markdown notebooks; jupytext reads them and nbclient runs
them in a fresh kernel of this environment, so a claim in the text that stops
being true fails ``pytest`` exactly as it fails the book build.
"""

import pathlib

import pytest

BOOK = pathlib.Path(__file__).resolve().parents[1] / "book"


def _executable_chapters() -> list[pathlib.Path]:
    return sorted(p for p in BOOK.glob("*.md") if p.read_text().startswith("---\njupytext:"))


@pytest.mark.chapter
@pytest.mark.parametrize("chapter", _executable_chapters(), ids=lambda p: p.stem)
def test_chapter_executes(chapter):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    notebook = jupytext.read(chapter)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(BOOK)}},
        extra_arguments=["--InteractiveShell.colors=nocolor"],
    )
    client.execute()


def test_every_page_is_in_the_table_of_contents():
    index = (BOOK / "index.md").read_text()
    pages = {p.stem for p in BOOK.glob("*.md")} - {"index"}
    missing = sorted(p for p in pages if f"\n{p}\n" not in index)
    assert not missing, f"pages missing from book/index.md's toctree: {missing}"
