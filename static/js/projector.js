// Projector mode: larger type and thicker lines, toggled from the header and remembered in
// this browser. Loaded without defer, in <head>, so the page is drawn in the right mode
// from the start (no flash of small type); the button is wired once the page is parsed.
(function () {
  "use strict";
  const KEY = "cnnpg.projector";
  const root = document.documentElement;
  let on = false;
  try { on = window.localStorage.getItem(KEY) === "on"; } catch (e) { on = false; }
  root.classList.toggle("projector", on);

  function wire() {
    const button = document.getElementById("projector-toggle");
    if (!button) return;
    button.setAttribute("aria-pressed", String(on));
    button.addEventListener("click", function () {
      on = !root.classList.contains("projector");
      root.classList.toggle("projector", on);
      button.setAttribute("aria-pressed", String(on));
      try { window.localStorage.setItem(KEY, on ? "on" : "off"); } catch (e) { /* private mode */ }
      window.dispatchEvent(new CustomEvent("cnnpg:projector", { detail: { on: on } }));
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
})();
