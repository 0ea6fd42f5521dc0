// The embedding map (templates/partials/insight_embedding_map.html): dots coloured by true
// class, a ring round each misclassified image; pointing at a dot shows its image (from the
// sprite of all of them), clicking opens it in Explain; the legend picks a class out.
(function () {
  "use strict";
  const PAD = 14, R = 3;

  function setUp(box) {
    if (box.dataset.ready) return;
    box.dataset.ready = "1";
    const pts = JSON.parse(box.dataset.points);
    const names = JSON.parse(box.dataset.classes);
    const colours = JSON.parse(box.dataset.colours);
    const side = Number(box.dataset.side), columns = Number(box.dataset.columns);
    const canvas = box.querySelector("#embedding-canvas");
    const ctx = canvas.getContext("2d");
    const tip = box.querySelector("#embedding-tip");
    const tipCanvas = tip.querySelector("canvas"), tipText = tip.querySelector("span");
    const sprite = new Image();
    sprite.src = box.dataset.sprite;
    let picked = null, hover = -1;
    const W = canvas.width, H = canvas.height;
    const px = (p) => PAD + p[0] * (W - 2 * PAD), py = (p) => PAD + p[1] * (H - 2 * PAD);
    const colour = (k) => colours[k % colours.length];

    function draw() {
      ctx.clearRect(0, 0, W, H);
      for (const pass of [0, 1]) { // the picked class (or all) over the rest
        for (const p of pts) {
          const on = picked === null || p[2] === picked;
          if ((pass === 1) !== on) continue;
          ctx.globalAlpha = on ? 0.9 : 0.12;
          ctx.fillStyle = colour(p[2]);
          ctx.beginPath(); ctx.arc(px(p), py(p), R, 0, 2 * Math.PI); ctx.fill();
          if (p[2] !== p[3]) {
            ctx.strokeStyle = "#111"; ctx.lineWidth = 1.5;
            ctx.beginPath(); ctx.arc(px(p), py(p), R + 2.5, 0, 2 * Math.PI); ctx.stroke();
          }
        }
      }
      ctx.globalAlpha = 1;
      if (hover >= 0) {
        const p = pts[hover];
        ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
        ctx.beginPath(); ctx.arc(px(p), py(p), R + 4, 0, 2 * Math.PI); ctx.stroke();
      }
    }

    function nearest(e) {
      const r = canvas.getBoundingClientRect();
      const x = (e.clientX - r.left) * W / r.width, y = (e.clientY - r.top) * H / r.height;
      let best = -1, bestD = 64; // within 8 canvas pixels
      pts.forEach(function (p, i) {
        if (picked !== null && p[2] !== picked) return;
        const d = (px(p) - x) ** 2 + (py(p) - y) ** 2;
        if (d < bestD) { bestD = d; best = i; }
      });
      return best;
    }

    function showTip(i) {
      if (i < 0) { tip.hidden = true; return; }
      const p = pts[i], n = p[4];
      const t = tipCanvas.getContext("2d");
      t.imageSmoothingEnabled = false;
      t.clearRect(0, 0, tipCanvas.width, tipCanvas.height);
      if (sprite.complete) {
        t.drawImage(sprite, (n % columns) * side, Math.floor(n / columns) * side, side, side,
          0, 0, tipCanvas.width, tipCanvas.height);
      }
      tipText.textContent = "#" + n + ": " + names[p[2]] + (p[2] !== p[3] ? ", read as " + names[p[3]] : "");
      const r = canvas.getBoundingClientRect();
      tip.style.left = Math.min(px(p) * r.width / W + 12, r.width - 100) + "px";
      tip.style.top = Math.max(py(p) * r.height / H - 110, 0) + "px";
      tip.hidden = false;
    }

    canvas.addEventListener("mousemove", function (e) {
      const i = nearest(e);
      if (i === hover) return;
      hover = i;
      canvas.style.cursor = i >= 0 ? "pointer" : "crosshair";
      showTip(i);
      draw();
    });
    canvas.addEventListener("mouseleave", function () { hover = -1; showTip(-1); draw(); });
    canvas.addEventListener("click", function (e) {
      const i = nearest(e);
      if (i < 0) return;
      const p = pts[i];
      location.href = "/explain?" + new URLSearchParams({
        model: box.dataset.model, source: "test", class: String(p[2]), index: String(p[4]) });
    });
    box.querySelectorAll(".embedding-legend button").forEach(function (b) {
      b.addEventListener("click", function () {
        const k = Number(b.dataset.class);
        picked = picked === k ? null : k;
        box.querySelectorAll(".embedding-legend button").forEach(function (o) {
          o.setAttribute("aria-pressed", String(Number(o.dataset.class) === picked));
        });
        draw();
      });
    });
    sprite.addEventListener("load", function () { if (hover >= 0) showTip(hover); });
    draw();
  }

  function scan() {
    const box = document.getElementById("embedding-map");
    if (box) setUp(box);
  }
  document.addEventListener("DOMContentLoaded", scan);
  document.addEventListener("htmx:afterSettle", scan);
})();
