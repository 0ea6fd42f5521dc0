// Starts the vendored Swagger UI on /docs (an external file, as the CSP allows no inline script).
(function () {
  const el = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({ url: el.dataset.specUrl, dom_id: "#swagger-ui", deepLinking: true });
})();
