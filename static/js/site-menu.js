// The header's menu: on a phone and in projector mode the links fold behind a "Menu" button
// (static/css/app.css), so the page itself starts near the top of the screen. Loaded without
// defer, in <head>: the class below is set before the header is drawn (no jump), and the
// button is wired once the page is parsed. Without scripts the links simply stay open.
(function () {
  "use strict";
  document.documentElement.classList.add("has-menu");

  function wire() {
    const header = document.querySelector("header.site");
    const button = header && header.querySelector(".menu-toggle");
    if (!button) return;
    function set(open) {
      header.classList.toggle("menu-open", open);
      button.setAttribute("aria-expanded", String(open));
    }
    button.addEventListener("click", function () {
      const open = !header.classList.contains("menu-open");
      set(open);
      if (open) {
        const first = header.querySelector("#site-nav a");
        if (first) first.focus();
      }
    });
    header.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && header.classList.contains("menu-open")) {
        set(false);
        button.focus();
      }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
})();
