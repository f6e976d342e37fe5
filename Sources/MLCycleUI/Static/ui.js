// Progressive enhancement only: every page works without this file.
"use strict";
// Sortable tables: a button in each column heading sorts the rows by that column (numbers by their data-sort value).
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = table.querySelectorAll("thead th");
  heads.forEach(function (th, column) {
    if (!th.textContent.trim() || th.hasAttribute("data-nosort")) return;
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = th.textContent;
    th.textContent = "";
    th.appendChild(button);
    button.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[column];
        if (!cell) return "";
        var v = cell.getAttribute("data-sort");
        if (v === null) v = cell.textContent.trim();
        var n = Number(v);
        return v !== "" && !isNaN(n) ? n : v.toLowerCase();
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
// Pages that ask for it (data-refresh on <main>, in seconds) reload themselves, unless the reader is typing.
(function () {
  var main = document.querySelector("main[data-refresh]");
  if (!main) return;
  var seconds = Math.max(10, parseInt(main.getAttribute("data-refresh"), 10) || 60);
  setInterval(function () {
    var active = document.activeElement;
    if (active && /INPUT|SELECT|TEXTAREA/.test(active.tagName)) return;
    location.reload();
  }, seconds * 1000);
})();
