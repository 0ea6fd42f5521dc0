// Copy link and QR code (templates/partials/share.html): reusable on any page.
// The link is the page's own address as it is *now* (pages that keep their state in the
// URL update it as it changes), or the data-path the partial names, on the address
// students can reach (data-base: CNNPG_PUBLIC_URL when the server has one).
(function () {
  "use strict";

  function linkOf(box) {
    const path = box.dataset.path;
    const here = path ? new URL(path, window.location.href) : new URL(window.location.href);
    const base = box.dataset.base;
    return base ? base + here.pathname + here.search + here.hash : here.href;
  }

  function refresh(box) {
    const url = linkOf(box);
    const input = box.querySelector(".share-url");
    if (input) input.value = url;
    const panel = box.querySelector(".share-panel");
    const img = box.querySelector(".share-qr");
    if (img && panel && !panel.hidden) {
      const src = "/share/qr.svg?url=" + encodeURIComponent(url);
      if (img.getAttribute("src") !== src) img.setAttribute("src", src);
    }
  }

  function say(box, text) {
    const status = box.querySelector(".share-status");
    if (!status) return;
    status.textContent = text;
    clearTimeout(status._timer);
    status._timer = setTimeout(function () { status.textContent = ""; }, 2500);
  }

  async function copy(box) {
    const url = linkOf(box);
    refresh(box);
    try {
      // Only in a secure context (https or localhost); a classroom LAN is often plain http.
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(url);
        say(box, "Link copied");
        return;
      }
    } catch (e) { /* fall through to selecting the text */ }
    const panel = box.querySelector(".share-panel");
    const input = box.querySelector(".share-url");
    if (panel) panel.hidden = false;
    if (input) {
      input.focus();
      input.select();
      let ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      say(box, ok ? "Link copied" : "Press Ctrl+C (⌘C) to copy the selected link");
    }
  }

  function toggle(box, button) {
    const panel = box.querySelector(".share-panel");
    if (!panel) return;
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-expanded", String(!panel.hidden));
    box.classList.toggle("open", !panel.hidden);
    refresh(box);
  }

  document.addEventListener("click", function (e) {
    const box = e.target.closest && e.target.closest("[data-share]");
    if (!box) return;
    if (e.target.closest(".share-copy")) copy(box);
    else if (e.target.closest(".share-qr-toggle")) toggle(box, e.target.closest(".share-qr-toggle"));
  });

  function refreshAll() { document.querySelectorAll("[data-share]").forEach(refresh); }
  // Pages that change their URL tell us (the Kernel Lab), and so does htmx (hx-replace-url).
  document.addEventListener("cnnpg:urlchange", refreshAll);
  document.addEventListener("htmx:replacedInHistory", refreshAll);
  document.addEventListener("htmx:pushedIntoHistory", refreshAll);
  window.addEventListener("hashchange", refreshAll);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", refreshAll);
  else refreshAll();
})();
