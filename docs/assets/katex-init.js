// Set the maths of pymdownx.arithmatex (generic mode) with the site's own KaTeX copy.
(function () {
  function render() {
    if (typeof katex === "undefined") { return; }
    var items = document.querySelectorAll(".arithmatex");
    for (var i = 0; i < items.length; i++) {
      var item = items[i];
      var tex = item.textContent.trim();
      var display = tex.slice(0, 2) === "\\[";
      tex = tex.slice(2, -2);  // drop \( \) or \[ \]
      katex.render(tex, item, {displayMode: display, throwOnError: false});
    }
  }
  if (typeof document$ !== "undefined") {
    document$.subscribe(render);  // Material's page-change signal (instant navigation)
  } else {
    document.addEventListener("DOMContentLoaded", render);
  }
})();
