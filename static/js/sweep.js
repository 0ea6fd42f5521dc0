// A sweep's page: the panel (runs table, parallel-coordinates chart, what mattered) arrives
// by server-sent events; this script links the chart and the table (pointing at a line or a
// row highlights the same run in both) and sorts the table by any column, keeping the order
// (and the address, ?sort=accuracy&dir=desc) across each live update.
(function () {
  "use strict";
  const STATUS_ORDER = ["succeeded", "running", "queued", "failed", "cancelled"];
  const params = new URLSearchParams(location.search);
  const sort = { key: params.get("sort") || "number", dir: params.get("dir") === "desc" ? "desc" : "asc" };

  function panel() { return document.getElementById("sweep-panel"); }

  function value(row, key) {
    if (key === "status") return STATUS_ORDER.indexOf(row.dataset.status);
    const text = row.dataset[key];
    return text === undefined || text === "" ? null : Number(text);
  }

  function applySort() {
    const table = document.getElementById("sweep-runs");
    if (!table) return;
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const sign = sort.dir === "desc" ? -1 : 1;
    rows.sort((a, b) => {
      const x = value(a, sort.key), y = value(b, sort.key);
      if (x === null && y === null) return value(a, "number") - value(b, "number");
      if (x === null) return 1; // runs without a value (not trained yet) last, either way
      if (y === null) return -1;
      return (x - y) * sign || value(a, "number") - value(b, "number");
    });
    for (const row of rows) body.appendChild(row);
    for (const th of table.tHead.rows[0].cells) {
      if (!th.dataset.key) continue;
      if (th.dataset.key === sort.key) th.setAttribute("aria-sort", sort.dir === "desc" ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    }
  }

  function remember() {
    const url = new URL(location.href);
    if (sort.key === "number" && sort.dir === "asc") {
      url.searchParams.delete("sort");
      url.searchParams.delete("dir");
    } else {
      url.searchParams.set("sort", sort.key);
      url.searchParams.set("dir", sort.dir);
    }
    history.replaceState(null, "", url);
  }

  function highlight(jobId) {
    const p = panel();
    if (!p) return;
    for (const el of p.querySelectorAll(".hl")) el.classList.remove("hl");
    p.classList.toggle("hovering", Boolean(jobId));
    if (!jobId) return;
    for (const el of p.querySelectorAll('[data-job="' + CSS.escape(jobId) + '"]')) {
      el.classList.add("hl");
      if (el.tagName.toLowerCase() === "polyline") el.parentNode.appendChild(el); // on top
    }
  }

  function runOf(target) {
    const el = target && target.closest ? target.closest("[data-job]") : null;
    return el && panel() && panel().contains(el) ? el.dataset.job : null;
  }

  document.addEventListener("mouseover", e => highlight(runOf(e.target)));
  document.addEventListener("focusin", e => highlight(runOf(e.target)));
  document.addEventListener("mouseleave", () => highlight(null));

  document.addEventListener("click", e => {
    const button = e.target.closest && e.target.closest("button.sort");
    if (!button) return;
    const key = button.dataset.key;
    if (sort.key === key) sort.dir = sort.dir === "asc" ? "desc" : "asc";
    else {
      sort.key = key;
      sort.dir = key === "accuracy" ? "desc" : "asc"; // the best first
    }
    applySort();
    remember();
  });

  function refresh() {
    applySort();
    const p = panel();
    const cancel = document.getElementById("sweep-cancel");
    if (p && cancel && p.dataset.status === "finished") cancel.hidden = true; // nothing left to cancel
  }

  // Each live update replaces the panel: sort the new table the same way.
  document.addEventListener("htmx:afterSettle", e => {
    if (e.target && (e.target.id === "sweep-panel-wrap" || e.target.id === "sweep-panel")) refresh();
  });
  document.addEventListener("DOMContentLoaded", refresh);
})();
