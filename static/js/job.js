// Live loss and accuracy curves for a job page: Chart.js, fed from the panel htmx refreshes.
(function () {
  "use strict";
  const charts = {};
  function chart(id, label) {
    const el = document.getElementById(id);
    if (!el || typeof Chart === "undefined") return null;
    if (!charts[id]) {
      charts[id] = new Chart(el, {
        type: "line",
        data: { labels: [], datasets: [
          { label: "training " + label, data: [], borderColor: "#2454c5", backgroundColor: "#2454c5", tension: 0.2 },
          { label: "validation " + label, data: [], borderColor: "#d6604d", backgroundColor: "#d6604d", tension: 0.2 },
        ] },
        options: { animation: false, responsive: true, maintainAspectRatio: false,
                   scales: { x: { title: { display: true, text: "epoch" } } } },
      });
    }
    return charts[id];
  }
  function update() {
    const panel = document.getElementById("job-panel");
    if (!panel) return;
    const history = JSON.parse(panel.dataset.history || "[]");
    for (const [id, key] of [["loss-chart", "loss"], ["accuracy-chart", "accuracy"]]) {
      const c = chart(id, key);
      if (!c) continue;
      c.data.labels = history.map(h => h.epoch);
      c.data.datasets[0].data = history.map(h => h[key]);
      c.data.datasets[1].data = history.map(h => h["val_" + key] ?? null);
      c.data.datasets[1].hidden = !history.some(h => ("val_" + key) in h);
      c.update();
    }
    document.documentElement.dataset.chartPoints = String(history.length);
  }
  document.addEventListener("DOMContentLoaded", update);
  document.addEventListener("htmx:afterSettle", update);
})();
