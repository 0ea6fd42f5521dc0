// The Draw page: a canvas for mouse, touch and pen (pointer events), with undo and clear;
// the drawing is sent (debounced while drawing, at once when a stroke ends) to be analysed.
(function () {
  "use strict";
  const canvas = document.getElementById("pad");
  if (!canvas) return;
  const ctx = canvas.getContext("2d");
  const modelSelect = document.getElementById("model");
  const strokes = [];
  let current = null;
  let timer = null;
  const LINE = canvas.width / 12.5; // about MNIST's stroke once the digit is fitted into 20×20

  function paint() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = "#000";
    ctx.fillStyle = "#000";
    ctx.lineWidth = LINE;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const s of strokes) {
      if (s.length === 1) {
        ctx.beginPath(); ctx.arc(s[0][0], s[0][1], LINE / 2, 0, 2 * Math.PI); ctx.fill();
        continue;
      }
      ctx.beginPath();
      ctx.moveTo(s[0][0], s[0][1]);
      for (let i = 1; i < s.length; i++) ctx.lineTo(s[i][0], s[i][1]);
      ctx.stroke();
    }
  }

  function point(e) {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  }

  function analyze() {
    clearTimeout(timer);
    timer = null;
    if (!strokes.length) {
      document.getElementById("analysis").innerHTML =
        '<p class="hint">Draw a digit in the box: the prediction updates as you draw.</p>';
      return;
    }
    // The source carries hx-sync="this:queue last": one request at a time, the newest drawing last.
    htmx.ajax("POST", canvas.dataset.analyze, {
      source: "#analysis", target: "#analysis", swap: "innerHTML",
      values: { image: canvas.toDataURL("image/png"), model: modelSelect.value },
    });
  }

  function soon() { if (!timer) timer = setTimeout(analyze, 250); }

  canvas.addEventListener("pointerdown", function (e) {
    e.preventDefault();
    try { canvas.setPointerCapture(e.pointerId); } catch (_) { /* synthetic or already gone */ }
    current = [point(e)];
    strokes.push(current);
    paint();
  });
  canvas.addEventListener("pointermove", function (e) {
    if (!current) return;
    current.push(point(e));
    paint();
    soon();
  });
  function end() { if (current) { current = null; analyze(); } }
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);

  document.getElementById("undo").addEventListener("click", function () { strokes.pop(); paint(); analyze(); });
  document.getElementById("clear").addEventListener("click", function () { strokes.length = 0; paint(); analyze(); });
  modelSelect.addEventListener("change", analyze);
  paint();
})();
