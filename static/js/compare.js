// The Compare page: every job's curves overlaid, in the job's colour (as in the tables); the
// address is the comparison, "show only what differs" included: on unless `&only=all`.
(function () {
  "use strict";
  function setUrl(url) {
    if (url && url !== location.pathname + location.search) {
      history.replaceState(null, "", url);
      document.dispatchEvent(new CustomEvent("cnnpg:urlchange"));
    }
  }
  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("compare-charts");
    if (box) window.Curves.draw(window.Curves.parse(box.dataset.series, []));
    const page = document.getElementById("compare");
    if (page) setUrl(page.dataset.url);  // the link as it was repaired, if it was
    const only = document.getElementById("only-differences");
    if (only) {
      only.addEventListener("change", () => {
        function keep(params) {
          if (only.checked) params.delete("only"); else params.set("only", "all");
          return params.toString().replace(/%2C/g, ",");
        }
        setUrl("/compare?" + keep(new URLSearchParams(location.search)));
        document.querySelectorAll("#compare-legend a[title^=Remove]").forEach((a) => {
          a.search = "?" + keep(new URLSearchParams(a.search));
        });
        const add = document.getElementById("add-job");
        let hidden = add && add.querySelector("input[name=only]");
        if (add && !only.checked && !hidden) {
          hidden = document.createElement("input");
          hidden.type = "hidden"; hidden.name = "only"; hidden.value = "all";
          add.appendChild(hidden);
        } else if (hidden && only.checked) hidden.remove();
      });
    }
  });
})();
