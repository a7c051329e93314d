// leakage-audit report: filter and sort the findings table. No network, no eval.
(function () {
  "use strict";
  var table = document.getElementById("findings-table");
  if (!table) { return; }
  var body = table.tBodies[0];
  var family = document.getElementById("filter-family");
  var severity = document.getElementById("filter-severity");
  var text = document.getElementById("filter-text");
  var shown = document.getElementById("findings-shown");

  function applyFilters() {
    var f = family.value, s = severity.value, t = text.value.toLowerCase();
    var count = 0;
    Array.prototype.forEach.call(body.rows, function (row) {
      var ok = (!f || row.dataset.family === f) &&
               (!s || row.dataset.severity === s) &&
               (!t || row.textContent.toLowerCase().indexOf(t) >= 0);
      row.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = String(count);
  }

  function sortBy(index, numeric, header) {
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) {
      cell.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].dataset.sort || a.cells[index].textContent;
      var y = b.cells[index].dataset.sort || b.cells[index].textContent;
      var order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  [family, severity].forEach(function (el) { el.addEventListener("change", applyFilters); });
  text.addEventListener("input", applyFilters);
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell, index) {
    if (!cell.dataset.sortable) { return; }
    cell.tabIndex = 0;
    var go = function () { sortBy(index, cell.dataset.sortable === "number", cell); };
    cell.addEventListener("click", go);
    cell.addEventListener("keydown", function (e) { if (e.key === "Enter") { go(); } });
  });
  applyFilters();
})();
