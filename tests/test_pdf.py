"""The PDF edition (``nox -s pdf``): its pages, its figures, its references.

The checks read ``build/latex`` after the build: the PDF's page count (poppler's
``pdfinfo``), that every figure the LaTeX source includes was found and embedded
(LuaLaTeX's log names each file it reads; a missing one is an error or a "File
... not found" warning), and that no reference or citation was left unresolved:
no "??" in the PDF's text (``pdftotext``) and no undefined reference in the log.
Each test is skipped, with the reason, where no PDF has been built or poppler is
missing; ``nox -s pdf`` sets ``DEEPREF_PDF_REQUIRED=1``, which turns a missing
PDF into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LATEX = ROOT / "build" / "latex"
PDF = LATEX / "deepref.pdf"
TEX = LATEX / "deepref.tex"
LOG = LATEX / "deepref.log"
REQUIRED = os.environ.get("DEEPREF_PDF_REQUIRED") == "1"
# A finished chapter runs to well over ten pages; a placeholder to one or two.
MIN_PAGES_PER_CHAPTER = 8


def _need_pdf():
    if not PDF.exists():
        if REQUIRED:
            pytest.fail(f"{PDF} was not built")
        pytest.skip("no PDF built (nox -s pdf builds build/latex/deepref.pdf)")


def _need(tool: str):
    if shutil.which(tool) is None:
        if REQUIRED:
            pytest.fail(f"{tool} not found: apt-get install poppler-utils")
        pytest.skip(f"{tool} not found (apt-get install poppler-utils)")


def _chapters() -> list[str]:
    index = (ROOT / "book" / "index.md").read_text(encoding="utf-8")
    block = re.search(r":caption: Chapters\n(?::[^\n]*\n)*\n(.*?)```", index, re.DOTALL).group(1)
    return [line.strip() for line in block.splitlines() if line.strip()]


def test_page_count():
    _need_pdf()
    _need("pdfinfo")
    info = subprocess.run(["pdfinfo", str(PDF)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))
    assert pages >= MIN_PAGES_PER_CHAPTER * len(_chapters()), f"only {pages} pages"


def test_every_figure_is_embedded():
    _need_pdf()
    tex = TEX.read_text(encoding="utf-8")
    log = LOG.read_text(encoding="utf-8", errors="replace")
    included = re.findall(r"\\sphinxincludegraphics(?:\[[^\]]*\])?\{\{?([^}]+?)\}?(\.\w+)?\}", tex)
    files = {name + (ext or "") for name, ext in included}
    assert files, "the LaTeX source includes no figure"
    figures = len(re.findall(r"\\begin\{figure\}", tex))
    assert len(included) >= figures
    for name in files:
        stem = Path(name).stem
        assert stem in log, f"{name} does not appear in the LaTeX log: not embedded"
        assert (LATEX / name).exists() or any(LATEX.glob(f"{stem}.*")), f"{name} is not in build/latex"
    assert not re.search(r"File `[^']+' not found", log), re.search(r"File `[^']+' not found", log).group(0)
    svg = [name for name in files if name.endswith(".svg")]
    assert not svg, f"SVG figures cannot be embedded by LaTeX: {svg[:3]}"


def test_no_unresolved_reference():
    _need_pdf()
    _need("pdftotext")
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(PDF), "-"], capture_output=True, text=True,
                          check=True).stdout
    unresolved = [text[max(m.start() - 40, 0):m.end() + 20].replace("\n", " ") for m in re.finditer(r"\?\?", text)]
    assert not unresolved, f"{len(unresolved)} unresolved references, e.g. {unresolved[:3]}"
    log = LOG.read_text(encoding="utf-8", errors="replace")
    undefined = re.findall(r"(?:Reference|Citation) `([^']+)' on page \d+ undefined", log)
    assert not undefined, f"undefined references: {sorted(set(undefined))[:5]}"
