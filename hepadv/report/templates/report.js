(function () {
  "use strict";

  // Sortable tables: a click on a header sorts by that column (numbers by their exact data-value).
  function sortKey(cell) {
    var v = cell.getAttribute("data-value");
    if (v !== null && v !== "") {
      return { num: true, v: parseFloat(v) };
    }
    var t = cell.textContent.trim();
    var n = Number(t.replace(/,/g, ""));
    return t !== "" && isFinite(n) ? { num: true, v: n } : { num: false, v: t };
  }

  function compare(a, b) {
    if (a.num && b.num) { return a.v - b.v; }
    if (a.num !== b.num) { return a.num ? -1 : 1; }
    return a.v.localeCompare(b.v);
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (th, col) {
      th.addEventListener("click", function () {
        var descending = th.getAttribute("aria-sort") === "ascending";
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var c = compare(sortKey(r1.cells[col]), sortKey(r2.cells[col]));
          return descending ? -c : c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  // Lightbox: a click on a plot shows it large; a click or Escape closes it.
  var box = document.getElementById("lightbox");
  var boxImg = box.querySelector("img");
  var boxCap = box.querySelector("figcaption");
  function close() { box.hidden = true; boxImg.removeAttribute("src"); }
  document.querySelectorAll("figure.plot img").forEach(function (img) {
    img.addEventListener("click", function () {
      boxImg.src = img.src;
      boxImg.alt = img.alt;
      boxCap.textContent = img.getAttribute("data-path") || img.alt;
      box.hidden = false;
    });
  });
  box.addEventListener("click", close);
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && !box.hidden) { close(); } });
}());
