// The Datasets page: how much of the zip has been sent, while it uploads. After that the
// server's answer (a progress bar it updates) follows the processing.
(function () {
  "use strict";
  function mib(n) { return (n / 1048576).toFixed(1) + " MiB"; }
  document.addEventListener("htmx:beforeRequest", (ev) => {
    if (ev.target.id !== "upload-form") return;
    const bar = document.getElementById("upload-bytes");
    bar.hidden = false;
    bar.value = 0;
    document.getElementById("upload-status").textContent = "";
  });
  document.addEventListener("htmx:xhr:progress", (ev) => {
    if (ev.target.id !== "upload-form" || !ev.detail.lengthComputable) return;
    const bar = document.getElementById("upload-bytes");
    bar.max = ev.detail.total;
    bar.value = ev.detail.loaded;
    document.getElementById("upload-bytes-text").textContent =
      "sent " + mib(ev.detail.loaded) + " of " + mib(ev.detail.total);
  });
  document.addEventListener("htmx:afterRequest", (ev) => {
    if (ev.target.id !== "upload-form") return;
    document.getElementById("upload-bytes").hidden = true;
    document.getElementById("upload-bytes-text").textContent = "";
  });
})();
