// Loss and accuracy curves with Chart.js, shared by the job, model and compare pages.
// A series is one job: {label, colour, valColour, batches, steps: [{step, loss, accuracy}],
// history: [{epoch, loss, accuracy, val_loss, val_accuracy}]}.
// The x axis is in epochs: step s of an epoch of b batches is at s / b. Per step: each
// batch's own value, smoothed over about a fiftieth of an epoch (app/training/trainer.py
// StepLog: no jump where an epoch starts), a solid line; each epoch's end: the epoch's mean
// as Keras reports it (dots) and validation (a dashed line with diamonds). Each has its own
// mark in the legend.
(function () {
  "use strict";
  const charts = new Map();

  function stepPoints(series, key) {
    const b = series.batches || 0;
    if (!b) return [];
    return (series.steps || []).filter(p => p[key] !== null && p[key] !== undefined)
      .map(p => ({ x: p.step / b, y: p[key] }));
  }

  function datasets(all, key) {
    const out = [];
    for (const s of all) {
      const history = s.history || [];
      const name = all.length > 1 ? s.label + ": " : "";
      out.push({ label: name + "training, per batch (smoothed)", data: stepPoints(s, key),
                 borderColor: s.colour, backgroundColor: s.colour, pointRadius: 0, borderWidth: 1.5,
                 tension: 0, pointStyle: "line" });
      out.push({ label: name + "training, epoch mean", data: history.filter(h => key in h).map(h => ({ x: h.epoch, y: h[key] })),
                 borderColor: s.colour, backgroundColor: s.colour, showLine: false, pointRadius: 4,
                 pointStyle: "circle" });
      const val = history.filter(h => ("val_" + key) in h).map(h => ({ x: h.epoch, y: h["val_" + key] }));
      if (val.length) {
        const c = s.valColour || s.colour;
        out.push({ label: name + "validation", data: val, borderColor: c, backgroundColor: c,
                   borderDash: [6, 4], pointRadius: 4, pointStyle: "rectRot", tension: 0 });
      }
    }
    return out;
  }

  function draw(canvasId, key, all) {
    const el = document.getElementById(canvasId);
    if (!el || typeof Chart === "undefined") return;
    let chart = charts.get(canvasId);
    const data = datasets(all, key);
    if (!chart) {
      chart = new Chart(el, {
        type: "line",
        data: { datasets: data },
        options: {
          animation: false, responsive: true, maintainAspectRatio: false, parsing: true,
          scales: { x: { type: "linear", min: 0, title: { display: true, text: "epoch" } },
                    y: { title: { display: true, text: key } } },
          // Several jobs: the page's own legend names their colours.
          plugins: { legend: { display: all.length === 1,
                               labels: { usePointStyle: true, pointStyleWidth: 22, boxHeight: 8 } } },
        },
      });
      charts.set(canvasId, chart);
    } else {
      chart.data.datasets = data;
      chart.update("none");
    }
  }

  window.Curves = {
    draw: function (all) {
      draw("loss-chart", "loss", all);
      draw("accuracy-chart", "accuracy", all);
      const first = all[0];
      document.documentElement.dataset.chartPoints = String(first ? (first.history || []).length : 0);
    },
    parse: function (text, fallback) {
      try { return JSON.parse(text || ""); } catch (e) { return fallback; }
    },
  };
})();
