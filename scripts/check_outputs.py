"""Check what the executed book prints: no raw Python repr and nothing on stderr.

A cell's output is part of the page a reader sees. ``<torch._C.Generator at
0x7f...>``, ``np.float64(0.5)`` or a library's warning under a figure are
noise that says nothing to the reader, so the book build fails on them.
MyST-NB writes every executed page to ``build/jupyter_execute``
(``book/<chapter>/<section>.md`` to ``<chapter>/<section>.ipynb``)::

    python scripts/check_outputs.py build/jupyter_execute

exits 1 and lists each offending output by page and cell.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

RAW_REPR = re.compile(
    r"<[\w.]+(?: object)? at 0x[0-9a-fA-F]+>"  # an object's default repr
    r"|\bnp\.(?:float|int|uint|bool|complex|str)\w*\("  # a NumPy scalar's repr (NumPy 2)
    r"|\barray\(\[|\bArray\(\["  # an array's repr (NumPy, array-api-strict)
)


def output_texts(output: dict) -> list[tuple[str, str]]:
    """The texts of one notebook output a reader sees: ``(kind, text)`` for stdout, stderr and plain results."""
    if output.get("output_type") == "stream":
        return [(output.get("name", "stdout"), _text(output.get("text", "")))]
    data = output.get("data", {})
    if "text/plain" in data and set(data) <= {"text/plain"}:  # a richer representation is what is shown
        return [("result", _text(data["text/plain"]))]
    return []


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def problems_in_notebook(notebook: dict, stderr: bool = True) -> list[str]:
    """Each raw repr (and, with ``stderr``, each stderr output) in a notebook, as ``cell N: what``."""
    found = []
    for number, cell in enumerate(notebook.get("cells", [])):
        for output in cell.get("outputs", []):
            for kind, text in output_texts(output):
                if kind == "stderr" and stderr and text.strip():
                    found.append(f"cell {number}: prints to stderr: {text.strip()[:120]!r}")
                for match in RAW_REPR.finditer(text):
                    context = text[max(0, match.start() - 40):match.end() + 20].strip()
                    found.append(f"cell {number}: raw repr {match.group(0)!r} in {context!r}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("executed", type=Path, help="MyST-NB's executed notebooks (build/jupyter_execute)")
    args = parser.parse_args(argv)
    pages = sorted(args.executed.rglob("*.ipynb"))
    if not pages:
        print(f"no executed notebook under {args.executed}: build the book first (nox -s docs)")
        return 1
    problems = [f"{page.relative_to(args.executed)}: {problem}"
                for page in pages for problem in problems_in_notebook(json.loads(page.read_text(encoding="utf-8")))]
    print("\n".join(problems) or f"outputs of {len(pages)} executed pages: no raw repr, nothing on stderr")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
