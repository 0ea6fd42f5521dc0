// The Compare page: every job's curves overlaid, in the job's colour (as in the tables).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("compare-charts");
    if (box) window.Curves.draw(window.Curves.parse(box.dataset.series, []));
  });
})();
