// The list page's bulk actions (admins): "select all" for the rows on this
// page, and a live count of the selected rows. The form works without this.
(function () {
  "use strict";
  function init() {
    var all = document.querySelector("[data-select-all]");
    var rows = Array.prototype.slice.call(document.querySelectorAll("[data-select-row]"));
    var count = document.getElementById("bulk-count");
    if (!all || !count) { return; }

    function update() {
      var checked = rows.filter(function (box) { return box.checked; }).length;
      all.checked = rows.length > 0 && checked === rows.length;
      all.indeterminate = checked > 0 && checked < rows.length;
      count.textContent = checked === 0 ? "(none selected)" : "(" + checked + " selected)";
    }

    all.addEventListener("change", function () {
      rows.forEach(function (box) { box.checked = all.checked; });
      update();
    });
    rows.forEach(function (box) { box.addEventListener("change", update); });
    update();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
