// The Model Builder: the Train button lives outside the summary that each edit re-renders,
// so it is enabled here from the summary's verdict (data-valid) after every swap; and the
// page's address follows its state (the summary carries it: app/training/builder_link.py),
// so a copied link reopens exactly this model and these settings.
(function () {
  "use strict";
  function sync() {
    const summary = document.getElementById("summary");
    const train = document.getElementById("train");
    if (summary && train) train.disabled = summary.dataset.valid !== "true";
    const url = summary && summary.dataset.url;
    if (url && url !== location.pathname + location.search) {
      history.replaceState(null, "", url);
      document.dispatchEvent(new CustomEvent("cnnpg:urlchange"));
    }
  }
  document.addEventListener("htmx:afterSettle", sync);
  document.addEventListener("DOMContentLoaded", sync);
})();
