// ConvNets in Depth: keep wide figures readable and let every figure open at full size.
(function () {
  "use strict";

  // An image shown at less than half its pixel width is unreadable (a plot_model diagram is
  // drawn at 200 dpi and squeezed to a third). Show it at half its pixel width, the size at which
  // a high-resolution figure reads, in a box that scrolls sideways.
  function keepReadable(img) {
    var shown = img.getBoundingClientRect().width;
    var readable = Math.round(img.naturalWidth / 2);
    if (!shown || readable <= shown * 1.05 || img.parentElement.classList.contains("dlbook-scroll")) {
      return;
    }
    var box = document.createElement("div");
    box.className = "dlbook-scroll";
    img.parentNode.insertBefore(box, img);
    box.appendChild(img);
    img.style.width = readable + "px";
    var hint = document.createElement("p");
    hint.className = "dlbook-scroll-hint";
    hint.textContent = "\u2194 Scroll sideways, or click the figure to see it whole.";
    box.insertAdjacentElement("afterend", hint);
  }

  function openFullSize(img) {
    var overlay = document.createElement("div");
    overlay.className = "dlbook-lightbox";
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-label", (img.alt || "figure") + " at full size; Escape closes");
    var big = document.createElement("img");
    big.src = img.currentSrc || img.src;
    big.alt = img.alt;
    overlay.appendChild(big);
    function close() {
      overlay.remove();
      document.removeEventListener("keydown", onKey);
    }
    function onKey(event) {
      if (event.key === "Escape") close();
    }
    overlay.addEventListener("click", close);
    document.addEventListener("keydown", onKey);
    document.body.appendChild(overlay);
  }

  function setUp(img) {
    if (img.closest("a")) return; // a badge or a link keeps its own click
    img.classList.add("dlbook-zoomable");
    img.title = img.title || "Click to see at full size";
    img.addEventListener("click", function () { openFullSize(img); });
    if (img.complete && img.naturalWidth) keepReadable(img);
    else img.addEventListener("load", function () { keepReadable(img); });
  }

  // Plain text drawn with box characters (a model summary) must keep its lines.
  var BOX = /[\u2500-\u257f]/;

  document.addEventListener("DOMContentLoaded", function () {
    var article = document.querySelector(".bd-article");
    if (!article) return;
    article.querySelectorAll("img").forEach(setUp);
    article.querySelectorAll("div.cell_output pre, div.highlight pre").forEach(function (pre) {
      if (BOX.test(pre.textContent)) pre.classList.add("dlbook-keep-lines");
    });
  });
})();
