// The Model Builder: the Train button lives outside the summary that each edit re-renders,
// so it is enabled here from the summary's verdict (data-valid) after every swap.
(function () {
  "use strict";
  function sync() {
    const summary = document.getElementById("summary");
    const train = document.getElementById("train");
    if (summary && train) train.disabled = summary.dataset.valid !== "true";
  }
  document.addEventListener("htmx:afterSettle", sync);
  document.addEventListener("DOMContentLoaded", sync);
})();
