// The insight pages and partials: a layer or method picked submits its form (the page's
// link is its state), and the Attack panel's ε slider reads out its value in 0–255 too.
(function () {
  "use strict";
  document.addEventListener("change", function (e) {
    const el = e.target;
    if (el.matches && el.matches("[data-autosubmit]") && el.form) el.form.requestSubmit();
  });
  function readOut(slider) {
    const out = document.getElementById("attack-epsilon-out");
    if (!out) return;
    const eps = Number(slider.value);
    out.textContent = eps.toFixed(3) + " (" + (eps * 255).toFixed(1) + " of 255)";
  }
  document.addEventListener("input", function (e) {
    if (e.target.id === "attack-epsilon") readOut(e.target);
  });
})();
