"""Check the built book as a reader sees it, in headless Chromium with no network.

For each page of a built book (``build/html``) and each window width (1400 px,
a desktop; 414 px, a phone) the script opens a copy of the page with a small
measuring script added, lets MathJax typeset, and reports:

- equations: how many rendered, how many show raw TeX or a MathJax error, and
  how many are wider than the text column (cut off, or scrolled on a phone);
- code: shown code lines wider than their block (hidden by a horizontal
  scrollbar), and code cells with plotting code that are shown expanded;
- figures: numbered, captioned figures, and images outside any figure;
- network: every file the page requested from outside the build (there must be
  none: the book is read offline).

Usage::

    python scripts/check_rendering.py build/html                 # all chapters
    python scripts/check_rendering.py build/html --pages rnn stn --json out.json
    python scripts/check_rendering.py build/html --strict        # exit 1 on a failure

``--strict`` fails on unrendered math, requests that leave the build, and, at
the desktop width, cut-off equations or code lines and images without a figure.
Chromium comes from Debian (``apt-get install chromium``); ``--chromium`` names
another binary.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTHS = (1400, 414)
DESKTOP = 1400
MARKER = "deepref-rendering-check"

# Runs in the page once MathJax is done; writes its findings as JSON into the DOM.
MEASURE_JS = r"""
(function () {
  function visible(el) { return el.getClientRects().length > 0; }
  function measure() {
    var out = {math: 0, math_raw: 0, math_errors: 0, math_wide: [], code_lines_cut: 0,
               code_blocks_cut: [], plots_shown: 0, figures: 0, figures_uncaptioned: 0,
               images_outside_figure: 0, external_requests: [], font_errors: 0};
    document.querySelectorAll("div.math, span.math").forEach(function (box) {
      var jax = box.querySelector("mjx-container");
      if (!jax) { out.math_raw += 1; return; }
      out.math += 1;
      if (box.querySelector("mjx-merror")) { out.math_errors += 1; }
      if (box.tagName === "DIV") {
        var math = jax.querySelector("mjx-math");
        var avail = jax.clientWidth;
        var eqno = box.querySelector(".eqno");
        if (math && math.getBoundingClientRect().width > avail + 1) {
          out.math_wide.push({label: eqno ? eqno.textContent.replace("#", "").trim() : "",
                              width: Math.round(math.getBoundingClientRect().width),
                              available: Math.round(avail)});
        }
      }
    });
    document.querySelectorAll("div.highlight pre").forEach(function (pre) {
      if (!visible(pre)) { return; }
      var text = pre.textContent;
      if (/\bplt\.|\.plot\(|\.imshow\(|\.scatter\(/.test(text)) { out.plots_shown += 1; }
      if (pre.scrollWidth <= pre.clientWidth + 1) { return; }
      var probe = document.createElement("span");
      probe.textContent = "0000000000";
      pre.appendChild(probe);
      var ch = probe.getBoundingClientRect().width / 10;
      pre.removeChild(probe);
      var style = getComputedStyle(pre);
      var inner = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      var fit = Math.floor(inner / ch);
      var cut = text.split("\n").filter(function (l) { return l.length > fit; });
      out.code_lines_cut += cut.length;
      out.code_blocks_cut.push({columns_that_fit: fit, first: cut.length ? cut[0].slice(0, 60) : ""});
    });
    document.querySelectorAll("figure").forEach(function (fig) {
      out.figures += 1;
      if (!fig.querySelector("figcaption")) { out.figures_uncaptioned += 1; }
    });
    document.querySelectorAll("article img").forEach(function (img) {
      if (!img.closest("figure")) { out.images_outside_figure += 1; }
    });
    performance.getEntriesByType("resource").forEach(function (entry) {
      if (!/^(file|data|blob):/.test(entry.name)) { out.external_requests.push(entry.name); }
    });
    document.fonts.forEach(function (face) { if (face.status === "error") { out.font_errors += 1; } });
    var pre = document.createElement("pre");
    pre.id = "MARKER";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  // Wait until MathJax has typeset every equation (or 20 s have passed).
  var tries = 0;
  function start() {
    var pending = Array.prototype.filter.call(
      document.querySelectorAll("div.math, span.math"),
      function (box) { return !box.querySelector("mjx-container"); }).length;
    tries += 1;
    if (pending && tries < 100) { setTimeout(start, 200); } else { setTimeout(measure, 200); }
  }
  window.addEventListener("load", function () { setTimeout(start, 50); });
})();
""".replace("MARKER", MARKER)


def chromium_command(binary: str, profile: Path, width: int, url: str) -> list[str]:
    """A headless Chromium that cannot reach any host and dumps the DOM after loading."""
    return [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
        f"--window-size={width},1000", "--virtual-time-budget=20000", "--dump-dom", url,
    ]


def measure_page(binary: str, page: Path, width: int, timeout: float = 120) -> dict:
    """Open ``page`` at ``width`` pixels and return the measurements of :data:`MEASURE_JS`."""
    probe = page.with_name(f"{page.stem}.{MARKER}.html")
    html = page.read_text(encoding="utf-8")
    probe.write_text(html.replace("</body>", f"<script>{MEASURE_JS}</script></body>"), encoding="utf-8")
    profile = Path(tempfile.mkdtemp(prefix="deepref-chromium-"))
    try:
        run = subprocess.run(chromium_command(binary, profile, width, probe.resolve().as_uri()),
                             capture_output=True, text=True, timeout=timeout)
    finally:
        probe.unlink()
        shutil.rmtree(profile, ignore_errors=True)
    found = re.search(rf'<pre id="{MARKER}"[^>]*>(.*?)</pre>', run.stdout, re.DOTALL)
    if not found:
        raise RuntimeError(f"{page.name} at {width} px: no measurement ({run.stderr[-500:]})")
    text = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    return json.loads(text.replace("&amp;", "&"))


def failures(page: str, width: int, result: dict) -> list[str]:
    """What ``--strict`` rejects in one measurement."""
    problems = []
    if result["math_raw"] or result["math_errors"]:
        problems.append(f"{result['math_raw']} unrendered, {result['math_errors']} erroneous equations")
    if result["font_errors"]:
        problems.append(f"{result['font_errors']} fonts failed to load")
    if result["external_requests"]:
        problems.append(f"requests outside the build: {result['external_requests'][:3]}")
    if width == DESKTOP:
        if result["math_wide"]:
            problems.append(f"cut-off equations {[m['label'] for m in result['math_wide']]}")
        if result["code_lines_cut"]:
            problems.append(f"{result['code_lines_cut']} cut-off code lines")
        if result["images_outside_figure"] or result["figures_uncaptioned"]:
            problems.append("images without a numbered, captioned figure")
    return [f"{page} @ {width}px: {p}" for p in problems]


def chapter_pages(root: Path, names: list[str] | None) -> list[Path]:
    if names:
        return [root / f"{name}.html" for name in names]
    skip = {"genindex", "search", "py-modindex", "bibliography"}
    return sorted(p for p in root.glob("*.html") if p.stem not in skip)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the built book (sphinx-build's output directory)")
    parser.add_argument("--pages", nargs="*", help="page names without .html (default: every chapter)")
    parser.add_argument("--widths", nargs="*", type=int, default=list(WIDTHS))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--json", type=Path, help="write every measurement to this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a check fails")
    args = parser.parse_args(argv)

    results, problems = {}, []
    header = f"{'page':<22}{'width':>6}{'math':>6}{'raw':>5}{'wide':>6}{'code cut':>9}" \
             f"{'plots shown':>12}{'figures':>8}{'bare img':>9}{'external':>9}"
    print(header)
    for page in chapter_pages(args.html, args.pages):
        for width in args.widths:
            result = measure_page(args.chromium, page, width)
            results[f"{page.stem}@{width}"] = result
            problems += failures(page.stem, width, result)
            print(f"{page.stem:<22}{width:>6}{result['math']:>6}{result['math_raw']:>5}"
                  f"{len(result['math_wide']):>6}{result['code_lines_cut']:>9}{result['plots_shown']:>12}"
                  f"{result['figures']:>8}{result['images_outside_figure']:>9}"
                  f"{len(result['external_requests']):>9}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    for problem in problems:
        print(problem)
    return 1 if (args.strict and problems) else 0


if __name__ == "__main__":
    sys.exit(main())
