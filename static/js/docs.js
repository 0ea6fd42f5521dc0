// Starts the vendored Swagger UI on /docs (an external file, as the CSP allows no inline script).
// Deep links stay (the address follows the operation opened, and opens it again), but the
// operation's path is not a link of its own inside the button that opens the operation:
// a link inside a button cannot be reached or told apart by keyboard and screen readers.
// Answers are shown without colour highlighting (its colours are too faint on the dark
// background); Swagger UI's unnamed copy buttons get a name, and its scrolling code blocks
// can be reached by keyboard.
(function () {
  const el = document.getElementById("swagger-ui");
  function plainPath(system) {
    const h = system.React.createElement;
    return { components: { DeepLink: function (props) {
      return h("span", { className: "nostyle" }, h("span", null, props.text));
    } } };
  }
  window.ui = SwaggerUIBundle({ url: el.dataset.specUrl, dom_id: "#swagger-ui", deepLinking: true,
    syntaxHighlight: { activated: false }, plugins: [plainPath] });

  function label(root) {
    root.querySelectorAll(".copy-to-clipboard button:not([aria-label])").forEach(function (b) {
      b.setAttribute("aria-label", "Copy to clipboard");
    });
    root.querySelectorAll(".highlight-code > pre:not([tabindex]), .curl-command pre:not([tabindex])")
      .forEach(function (pre) {
        pre.tabIndex = 0;
        pre.setAttribute("aria-label", pre.closest(".curl-command") ? "curl command" : "response");
      });
  }
  new MutationObserver(function () { label(el); }).observe(el, { childList: true, subtree: true });
})();
