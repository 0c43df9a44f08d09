"""Check the built book as a reader sees it, in headless Chromium with no network.

For each page of a built book (``build/html``) and each width (1400 px, a desktop;
390 px, a phone) the script opens the page in an ``<iframe>`` of exactly that width
(Chromium will not make a window narrower than 500 px, so a window of 390 px would
really be 500 px wide), with a small measuring script added, lets MathJax typeset,
and reports:

- equations: how many rendered, how many show raw TeX or a MathJax error, how many
  are wider than the column (they must scroll in their box with a visible cue, and
  on a narrow screen have their number below them, not scrolled away);
- code: shown code lines wider than their block (hidden by a horizontal scrollbar),
  and code cells with plotting code that are shown expanded; code in a collapsed
  cell (``<details>`` closed) is not shown and is not counted;
- tables: how many, how many lack a number and caption ("Table 3.2: ..."), and how
  many scroll without a cue;
- the page: whether anything makes it wider than the window (and what);
- figures: numbered, captioned figures, images outside any figure, images without
  alt text, and the smallest text in each SVG figure as drawn on the screen (px);
- network: every file the page requested from outside the build (there must be
  none: the book is read offline).

Usage::

    python scripts/check_rendering.py build/html                 # all chapters
    python scripts/check_rendering.py build/html --pages rnn stn --json out.json
    python scripts/check_rendering.py build/html --strict        # exit 1 on a failure

``--strict`` fails, at every width, on unrendered math, requests that leave the
build, a page wider than the window, an equation or table that scrolls without a
cue, a wide equation whose number is not below it on a narrow screen, a table
without a number and caption, an image without alt text, and more than one search
box; at the desktop width
also on cut-off equations or code lines, images without a numbered figure, and
figure text under 9 px. ``--pages`` takes page names relative to the build
(``api/generated/deepref.nn``). Chromium comes from Debian (``apt-get install
chromium``); ``--chromium`` names another binary.
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

WIDTHS = (1400, 390)
DESKTOP = 1400
MIN_FIGURE_TEXT_PX = 9.0
MARKER = "deepref-rendering-check"

# Runs in the page (inside the iframe) once MathJax is done; posts its findings to
# the page around the iframe, which writes them into its DOM as JSON.
MEASURE_JS = r"""
(function () {
  function shown(el) {
    if (el.closest("details:not([open])")) { return false; }
    if (el.checkVisibility && !el.checkVisibility({contentVisibilityAuto: true, visibilityProperty: true,
                                                   opacityProperty: true})) { return false; }
    return el.getClientRects().length > 0;
  }
  function hasCue(box) {
    var bg = getComputedStyle(box).backgroundImage || "";
    return box.classList.contains("deepref-overflows") && bg.indexOf("gradient") >= 0;
  }
  var SCROLLERS = "mjx-container, .pst-scrollable-table-container, div.deepref-scroll, pre";
  function scrolls(box) { return box.scrollWidth > box.clientWidth + 1; }
  function describe(el) {
    var id = el.id ? "#" + el.id : "";
    var cls = (typeof el.className === "string" && el.className)
      ? "." + el.className.trim().split(/\s+/).slice(0, 2).join(".") : "";
    return el.tagName.toLowerCase() + id + cls;
  }
  function measure() {
    var width = window.innerWidth;
    var out = {width: width, math: 0, math_raw: 0, math_errors: 0, math_wide: [], code_lines_cut: 0,
               code_blocks_cut: [], plots_shown: 0, figures: 0, figures_uncaptioned: 0,
               images_outside_figure: 0, images_without_alt: 0, figure_images: [], tables: 0,
               tables_uncaptioned: [], tables_scroll: 0, scroll_without_cue: [], page_width: 0,
               too_wide: [], external_requests: [], font_errors: 0};
    document.querySelectorAll("div.math, span.math").forEach(function (box) {
      var jax = box.querySelector("mjx-container");
      if (!jax) { out.math_raw += 1; return; }
      out.math += 1;
      if (box.querySelector("mjx-merror")) { out.math_errors += 1; }
      if (box.tagName !== "DIV" || !shown(box)) { return; }
      var math = jax.querySelector("mjx-math");
      // wide: it scrolls (a fraction of a pixel over the column does not)
      if (!math || !scrolls(jax)) { return; }
      var eqno = box.querySelector(".eqno");
      var jaxBox = jax.getBoundingClientRect();
      out.math_wide.push({label: eqno ? eqno.textContent.replace("#", "").trim() : "",
                          width: Math.round(math.getBoundingClientRect().width),
                          available: Math.round(jax.clientWidth), cue: hasCue(jax),
                          number_below: eqno ? eqno.getBoundingClientRect().top >= jaxBox.bottom - 1 : null});
    });
    document.querySelectorAll("div.highlight pre").forEach(function (pre) {
      if (!shown(pre)) { return; }
      var text = pre.textContent;
      if (/\bplt\.|\.plot\(|\.imshow\(|\.scatter\(/.test(text)) { out.plots_shown += 1; }
      if (!scrolls(pre)) { return; }
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
    document.querySelectorAll("article table").forEach(function (table) {
      if (!shown(table)) { return; }
      out.tables += 1;
      var caption = table.querySelector("caption");
      if (!caption || !caption.querySelector(".caption-number") || !caption.textContent.trim()) {
        out.tables_uncaptioned.push((table.textContent || "").trim().replace(/\s+/g, " ").slice(0, 50));
      }
      var box = table.closest(".pst-scrollable-table-container, div.deepref-scroll");
      if (box && scrolls(box)) {
        out.tables_scroll += 1;
        if (!hasCue(box)) {
          out.scroll_without_cue.push("table: " + (caption ? caption.textContent.trim().slice(0, 40) : ""));
        }
      }
    });
    out.math_wide.forEach(function (m) { if (!m.cue) { out.scroll_without_cue.push("equation " + m.label); } });
    document.querySelectorAll("figure").forEach(function (fig) {
      out.figures += 1;
      if (!fig.querySelector("figcaption")) { out.figures_uncaptioned += 1; }
    });
    document.querySelectorAll("article img").forEach(function (img) {
      if (!img.closest("figure")) { out.images_outside_figure += 1; }
      var alt = (img.getAttribute("alt") || "").trim();
      if (!alt || /^[0-9a-f]{16,}|\.(svg|png|jpe?g|pdf)$/i.test(alt)) { out.images_without_alt += 1; }
      if (img.closest("figure") && shown(img)) {
        out.figure_images.push({src: img.getAttribute("src"), shown_width: img.getBoundingClientRect().width,
                                natural_width: img.naturalWidth});
      }
    });
    // the page: nothing may make it wider than the window
    out.page_width = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
    if (out.page_width > width + 1) {
      var seen = 0;
      document.querySelectorAll("body *").forEach(function (el) {
        if (seen >= 5 || !shown(el)) { return; }
        var r = el.getBoundingClientRect();
        if (r.right > width + 1 && r.width > 0 && !el.closest(SCROLLERS)) {
          var parent = el.parentElement;
          if (parent && parent.getBoundingClientRect().right > width + 1 && parent !== document.body
              && !parent.closest(SCROLLERS)) { return; }
          out.too_wide.push(describe(el) + " (" + Math.round(r.right) + " px)");
          seen += 1;
        }
      });
    }
    out.search_boxes = Array.prototype.filter.call(
      document.querySelectorAll(".search-button-field, form.bd-search, #searchbox input"), shown).length;
    performance.getEntriesByType("resource").forEach(function (entry) {
      if (!/^(file|data|blob):/.test(entry.name)) { out.external_requests.push(entry.name); }
    });
    document.fonts.forEach(function (face) { if (face.status === "error") { out.font_errors += 1; } });
    parent.postMessage({measurement: JSON.stringify(out)}, "*");
  }
  // Wait until MathJax has typeset every equation (or 20 s have passed).
  var tries = 0;
  function start() {
    var pending = Array.prototype.filter.call(
      document.querySelectorAll("div.math, span.math"),
      function (box) { return !box.querySelector("mjx-container"); }).length;
    tries += 1;
    if (pending && tries < 100) { setTimeout(start, 200); } else { setTimeout(measure, 2000); }
  }
  window.addEventListener("load", function () { setTimeout(start, 50); });
})();
""".replace("MARKER", MARKER)

# The page around the iframe: the iframe is exactly WIDTH px wide; the findings come back by message.
FRAME_HTML = """<!DOCTYPE html><html><head><meta charset="utf-8"></head>
<body style="margin:0"><iframe src="SRC" style="width:WIDTHpx;height:900px;border:0"></iframe>
<script>
window.addEventListener("message", function (event) {
  if (!event.data || !event.data.measurement) { return; }
  var pre = document.createElement("pre");
  pre.id = "MARKER";
  pre.textContent = event.data.measurement;
  document.body.appendChild(pre);
});
</script></body></html>
"""


def chromium_command(binary: str, profile: Path, width: int, url: str) -> list[str]:
    """A headless Chromium that cannot reach any host and dumps the DOM after loading."""
    return [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
        "--allow-file-access-from-files", f"--window-size={max(width, 500) + 40},1000",
        "--virtual-time-budget=30000", "--dump-dom", url,
    ]


def measure_page(binary: str, page: Path, width: int, timeout: float = 180) -> dict:
    """Open ``page`` in an iframe ``width`` pixels wide and return the measurements of :data:`MEASURE_JS`."""
    probe = page.with_name(f"{page.stem}.{MARKER}.html")
    frame = page.with_name(f"{page.stem}.{MARKER}-frame.html")
    html = page.read_text(encoding="utf-8")
    probe.write_text(html.replace("</body>", f"<script>{MEASURE_JS}</script></body>"), encoding="utf-8")
    frame.write_text(FRAME_HTML.replace("SRC", probe.name).replace("WIDTH", str(width))
                     .replace("MARKER", MARKER), encoding="utf-8")
    profile = Path(tempfile.mkdtemp(prefix="deepref-chromium-"))
    try:
        run = subprocess.run(chromium_command(binary, profile, width, frame.resolve().as_uri()),
                             capture_output=True, text=True, timeout=timeout)
    finally:
        probe.unlink()
        frame.unlink()
        shutil.rmtree(profile, ignore_errors=True)
    found = re.search(rf'<pre id="{MARKER}"[^>]*>(.*?)</pre>', run.stdout, re.DOTALL)
    if not found:
        raise RuntimeError(f"{page.name} at {width} px: no measurement ({run.stderr[-500:]})")
    text = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    result = json.loads(text.replace("&amp;", "&"))
    result["figure_text_px"] = figure_text_sizes(page.parent, result["figure_images"])
    return result


_VIEWBOX = re.compile(r'viewBox="[\d.\-]+ [\d.\-]+ ([\d.]+) [\d.]+"')
_FONT_SIZE = re.compile(r"font(?:-size)?:\s*(?:[a-z]+\s+)*([\d.]+)(?:px)?")
_STYLE = re.compile(r'style="([^"]*)"')
# Matplotlib's mathtext draws radicals and big delimiters from STIX's size-variant fonts, at a
# nominal size that says nothing about the drawn symbol's height: they are not text to read.
_SIZED_SYMBOL_FONT = "STIXSize"


def svg_min_font(svg: str) -> tuple[float, float] | None:
    """(smallest font size, viewBox width) of an SVG whose text is text; None when it has none.

    Sized symbols (a radical sign, a tall bracket) are left out: see :data:`_SIZED_SYMBOL_FONT`.
    """
    box = _VIEWBOX.search(svg)
    styles = [style for style in _STYLE.findall(svg) if _SIZED_SYMBOL_FONT not in style]
    sizes = [float(size) for style in styles for size in _FONT_SIZE.findall(style)]
    if not box or not sizes:
        return None
    return min(sizes), float(box.group(1))


def figure_text_sizes(root: Path, images: list[dict]) -> list[dict]:
    """The smallest text of each SVG figure as shown: its font size times the image's scale on screen."""
    sizes = []
    for image in images:
        src = image["src"] or ""
        path = (root / src.split("#")[0].split("?")[0]).resolve()
        if not src.endswith(".svg") or not path.exists():
            sizes.append({"src": src, "min_px": None})
            continue
        found = svg_min_font(path.read_text(encoding="utf-8"))
        if found is None:
            sizes.append({"src": src, "min_px": None})
            continue
        font, box_width = found
        sizes.append({"src": src, "min_px": round(font * image["shown_width"] / box_width, 1)})
    return sizes


def failures(page: str, width: int, result: dict) -> list[str]:
    """What ``--strict`` rejects in one measurement."""
    problems = []
    if result["width"] != width:
        problems.append(f"measured at {result['width']} px, not {width}")
    if result["math_raw"] or result["math_errors"]:
        problems.append(f"{result['math_raw']} unrendered, {result['math_errors']} erroneous equations")
    if result["font_errors"]:
        problems.append(f"{result['font_errors']} fonts failed to load")
    if result["external_requests"]:
        problems.append(f"requests outside the build: {result['external_requests'][:3]}")
    if result["page_width"] > width + 1:
        problems.append(f"page {result['page_width']} px wide in a {width} px window: {result['too_wide'][:3]}")
    if result["scroll_without_cue"]:
        problems.append(f"scrolls without a cue: {result['scroll_without_cue'][:5]}")
    if result["tables_uncaptioned"]:
        problems.append(f"{len(result['tables_uncaptioned'])} tables without number and caption: "
                        f"{result['tables_uncaptioned'][:3]}")
    if result.get("search_boxes", 0) > 1:
        problems.append(f"{result['search_boxes']} search boxes")
    if result["images_without_alt"]:
        problems.append(f"{result['images_without_alt']} images without alt text")
    if width < DESKTOP:
        above = [m["label"] for m in result["math_wide"] if m["number_below"] is False]
        if above:
            problems.append(f"wide equations with their number beside them: {above[:5]}")
    if width == DESKTOP:
        if result["math_wide"]:
            problems.append(f"cut-off equations {[m['label'] for m in result['math_wide']]}")
        if result["code_lines_cut"]:
            problems.append(f"{result['code_lines_cut']} cut-off code lines")
        if result["images_outside_figure"] or result["figures_uncaptioned"]:
            problems.append("images without a numbered, captioned figure")
        small = [f["src"].rsplit("/", 1)[-1][:12] + f" {f['min_px']} px" for f in result["figure_text_px"]
                 if f["min_px"] is not None and f["min_px"] < MIN_FIGURE_TEXT_PX]
        if small:
            problems.append(f"figure text under {MIN_FIGURE_TEXT_PX:g} px: {small[:5]}")
    return [f"{page} @ {width}px: {p}" for p in problems]


def chapter_pages(root: Path, names: list[str] | None) -> list[Path]:
    if names:
        return [root / f"{name}.html" for name in names]
    skip = {"genindex", "search", "py-modindex", "bibliography"}
    pages = [p for p in root.glob("*.html") if p.stem not in skip and MARKER not in p.name]
    # a chapter split into one page per section: book/<chapter>/<section>.md -> <chapter>/<section>.html
    sections = [p for page in pages if (root / page.stem).is_dir() for p in (root / page.stem).glob("*.html")]
    return sorted(pages + [p for p in sections if MARKER not in p.name])


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
    print(f"{'page':<34}{'width':>6}{'math':>6}{'raw':>5}{'wide':>6}{'code cut':>9}{'plots':>6}"
          f"{'figures':>8}{'fig px':>7}{'tables':>7}{'uncapt.':>8}{'scroll':>7}{'page px':>8}{'extern':>7}")
    for page in chapter_pages(args.html, args.pages):
        name = page.relative_to(args.html).with_suffix("").as_posix()
        for width in args.widths:
            result = measure_page(args.chromium, page, width)
            results[f"{name}@{width}"] = result
            problems += failures(name, width, result)
            sizes = [f["min_px"] for f in result["figure_text_px"] if f["min_px"] is not None]
            print(f"{name:<34}{width:>6}{result['math']:>6}{result['math_raw']:>5}"
                  f"{len(result['math_wide']):>6}{result['code_lines_cut']:>9}{result['plots_shown']:>6}"
                  f"{result['figures']:>8}{(min(sizes) if sizes else '-'):>7}{result['tables']:>7}"
                  f"{len(result['tables_uncaptioned']):>8}{result['tables_scroll']:>7}{result['page_width']:>8}"
                  f"{len(result['external_requests']):>7}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    for problem in problems:
        print(problem)
    return 1 if (args.strict and problems) else 0


if __name__ == "__main__":
    sys.exit(main())
