/* deepref book: boxes that scroll sideways show that they do (deepref.css).
 *
 * - A table outside the theme's scroll box gets one (div.deepref-scroll).
 * - A figure's image links to the image itself, so that a reader on a phone can open
 *   it at full size (the SVG scales without blur).
 * - Every box that can scroll sideways and holds more than it shows (a displayed
 *   equation, a table, a code block) gets the class deepref-overflows, which draws a
 *   shadow at each edge with hidden content; recomputed when MathJax has typeset the
 *   page and when the window changes size.
 */
(function () {
  "use strict";

  var BOXES = 'mjx-container[display="true"], .pst-scrollable-table-container, ' +
              "div.deepref-scroll, div.highlight pre";

  function wrapTables() {
    document.querySelectorAll("article table").forEach(function (table) {
      if (table.closest(".pst-scrollable-table-container, div.deepref-scroll")) { return; }
      var box = document.createElement("div");
      box.className = "deepref-scroll";
      table.parentNode.insertBefore(box, table);
      box.appendChild(table);
    });
  }

  function linkFigures() {
    document.querySelectorAll("article figure img").forEach(function (img) {
      if (img.closest("a")) { return; }
      var link = document.createElement("a");
      link.href = img.getAttribute("src");
      link.className = "deepref-figure-link";
      link.title = "Open the figure at full size";
      img.parentNode.insertBefore(link, img);
      link.appendChild(img);
    });
  }

  function markOverflows() {
    document.querySelectorAll(BOXES).forEach(function (box) {
      box.classList.toggle("deepref-overflows", box.scrollWidth > box.clientWidth + 1);
    });
  }

  var pending = null;
  function later() {
    if (pending) { cancelAnimationFrame(pending); }
    pending = requestAnimationFrame(markOverflows);
  }

  function start() {
    wrapTables();
    linkFigures();
    markOverflows();
    window.addEventListener("resize", later);
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(markOverflows);
    }
    // MathJax may start after this script: check again once it has had time.
    setTimeout(markOverflows, 1500);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
