// Kernel Lab behaviour that htmx attributes cannot express (no inline script: the CSP forbids it).
(function () {
  "use strict";
  const form = document.getElementById("lab-form");
  if (!form) return;
  const source = document.getElementById("source");

  function showSourceFields() {
    form.dataset.source = source.value === "upload" || source.value === "matrix" ? source.value : "";
  }
  showSourceFields();
  source.addEventListener("change", showSourceFields);

  // "Upload" with no file chosen yet has nothing to show: wait for the file.
  form.addEventListener("htmx:confirm", function (e) {
    if (source.value === "upload" && !document.getElementById("file").files.length) e.preventDefault();
  });

  // Editing a weight or the grid size makes the kernel a custom one.
  form.addEventListener("input", function (e) {
    if (e.target.name === "k") document.getElementById("kernel").value = "custom";
    const out = e.target.dataset && e.target.dataset.show;
    if (out) document.getElementById(out).value = e.target.value;
  });
  form.addEventListener("change", function (e) {
    if (e.target.name === "ksize") document.getElementById("kernel").value = "custom";
  }, true);

  // Pick an output cell (or a pooled cell) to see how it is computed.
  function pick(td) {
    document.getElementById(td.dataset.field).value = td.dataset.cell;
    htmx.trigger(form, "change");
  }
  document.addEventListener("click", function (e) {
    const td = e.target.closest("td[data-field]");
    if (td) pick(td);
  });
  document.addEventListener("keydown", function (e) {
    const td = e.target.closest && e.target.closest("td[data-field]");
    if (td && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); pick(td); }
  });
})();
