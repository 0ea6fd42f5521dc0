// The Draw page: a canvas for mouse, touch and pen (pointer events), with undo and clear, or
// an uploaded image, or a test image picked by class (keyboard only works too). The input
// is sent (debounced while drawing, at once when a stroke ends) to be analysed, and kept in
// the URL: the strokes themselves (`d`: points on a 140×140 grid, as they are drawn, so the
// link redraws the very same canvas), a test image (`test`) or an upload as the network saw
// it (`px`). app/networks/draw_view.py reads the link back.
(function () {
  "use strict";
  const canvas = document.getElementById("pad");
  const root = document.getElementById("draw");
  if (!canvas || !root) return;
  const ctx = canvas.getContext("2d");
  const modelSelect = document.getElementById("model");
  // A model that does not read 28×28 drawings takes images and test images, not strokes.
  const drawing = root.dataset.drawable !== "false";
  const emptyHint = document.getElementById("analysis").innerHTML;
  // The maps of every layer come with each analysis, swapped in out of band (#draw-layers):
  // on a phone the prediction sits under the canvas, the maps further down.
  function clearLayers() {
    const layers = document.getElementById("draw-layers");
    if (layers) layers.textContent = "";
  }
  const GRID = 140, STEP = canvas.width / GRID, END = 255;
  const strokes = [];
  let current = null;
  let timer = null;
  // An input that is not strokes: {kind: "test", index} | {kind: "px", px} | {kind: "image", url}
  let other = null;
  let background = null; // what that input looks like, painted under any strokes
  const LINE = canvas.width / 12.5; // about MNIST's stroke once the digit is fitted into 20×20

  function paint() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (background) {
      const s = Math.min(canvas.width / background.width, canvas.height / background.height);
      const w = background.width * s, h = background.height * s;
      ctx.imageSmoothingEnabled = !(background.pixelated);
      ctx.drawImage(background, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
    }
    ctx.strokeStyle = "#000";
    ctx.fillStyle = "#000";
    ctx.lineWidth = LINE;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const s of strokes) {
      if (s.length === 1) {
        ctx.beginPath(); ctx.arc(s[0][0] * STEP, s[0][1] * STEP, LINE / 2, 0, 2 * Math.PI); ctx.fill();
        continue;
      }
      ctx.beginPath();
      ctx.moveTo(s[0][0] * STEP, s[0][1] * STEP);
      for (let i = 1; i < s.length; i++) ctx.lineTo(s[i][0] * STEP, s[i][1] * STEP);
      ctx.stroke();
    }
  }

  // A pointer's place on the grid (what is drawn is exactly what the link can hold).
  function point(e) {
    const r = canvas.getBoundingClientRect();
    const x = Math.round((e.clientX - r.left) * GRID / r.width);
    const y = Math.round((e.clientY - r.top) * GRID / r.height);
    return [Math.min(GRID - 1, Math.max(0, x)), Math.min(GRID - 1, Math.max(0, y))];
  }

  // Ramer–Douglas–Peucker: drop the points within `eps` grid steps of the line through their
  // neighbours (a stroke of 100 pointer events keeps a dozen points; the line looks the same).
  function simplify(pts, eps) {
    if (pts.length < 3) return pts;
    const keep = new Uint8Array(pts.length);
    keep[0] = keep[pts.length - 1] = 1;
    const stack = [[0, pts.length - 1]];
    while (stack.length) {
      const [a, b] = stack.pop();
      const [ax, ay] = pts[a], [bx, by] = pts[b];
      const len = Math.hypot(bx - ax, by - ay);
      let far = -1, worst = eps;
      for (let i = a + 1; i < b; i++) {
        const d = len ? Math.abs((bx - ax) * (ay - pts[i][1]) - (ax - pts[i][0]) * (by - ay)) / len
          : Math.hypot(pts[i][0] - ax, pts[i][1] - ay);
        if (d > worst) { worst = d; far = i; }
      }
      if (far >= 0) { keep[far] = 1; stack.push([a, far], [far, b]); }
    }
    return pts.filter(function (_, i) { return keep[i]; });
  }

  function encodeStrokes() {
    const bytes = [];
    strokes.forEach(function (s, i) {
      if (i) bytes.push(END);
      for (const p of s) bytes.push(p[0], p[1]);
    });
    let text = "";
    for (const b of bytes) text += String.fromCharCode(b);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function writeUrl() {
    const p = new URLSearchParams();
    p.set("model", modelSelect.value);
    if (strokes.length) p.set("d", encodeStrokes());
    else if (other && other.kind === "test") p.set("test", String(other.index));
    else if (other && other.kind === "px" && other.px) p.set("px", other.px);
    const url = "/draw?" + p.toString();
    if (url !== location.pathname + location.search) {
      history.replaceState(null, "", url);
      document.dispatchEvent(new CustomEvent("cnnpg:urlchange"));
    }
  }

  function post(values) {
    // The source carries hx-sync="this:queue last": one request at a time, the newest last.
    htmx.ajax("POST", canvas.dataset.analyze, {
      source: "#analysis", target: "#analysis", swap: "innerHTML",
      values: Object.assign({ model: modelSelect.value }, values),
    });
  }

  function analyze() {
    clearTimeout(timer);
    timer = null;
    writeUrl();
    if (strokes.length) post({ image: canvas.toDataURL("image/png") });
    else if (other && other.kind === "test") post({ test: String(other.index) });
    else if (other && other.kind === "px") post({ px: other.px });
    else if (other && other.kind === "image") post({ image: other.url });
    else {
      document.getElementById("analysis").innerHTML = emptyHint;
      clearLayers();
    }
  }

  function soon() { if (!timer) timer = setTimeout(analyze, 250); }

  function forgetOther() { other = null; background = null; }

  canvas.addEventListener("pointerdown", function (e) {
    e.preventDefault();
    if (!drawing) return;
    try { canvas.setPointerCapture(e.pointerId); } catch (_) { /* synthetic or already gone */ }
    if (other) forgetOther(); // a drawing replaces an image or a test image
    current = [point(e)];
    strokes.push(current);
    paint();
  });
  canvas.addEventListener("pointermove", function (e) {
    if (!current) return;
    const p = point(e), last = current[current.length - 1];
    if (p[0] === last[0] && p[1] === last[1]) return;
    current.push(p);
    paint();
    soon();
  });
  function end() {
    if (!current) return;
    const simple = simplify(current, 0.75);
    current.length = 0;
    Array.prototype.push.apply(current, simple);
    current = null;
    paint();
    analyze();
  }
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);

  document.getElementById("undo").addEventListener("click", function () {
    if (strokes.length) strokes.pop(); else forgetOther();
    paint(); analyze();
  });
  document.getElementById("clear").addEventListener("click", function () {
    strokes.length = 0; forgetOther(); paint(); analyze();
  });
  // Another model's page (its kernels come with it), with the same input.
  modelSelect.addEventListener("change", function () {
    writeUrl();
    location.href = location.pathname + location.search;
  });

  // ------------------------------------------------------------ without a pointer

  function loadImage(src, pixelated) {
    const img = new Image();
    img.onload = function () { img.pixelated = pixelated; background = img; paint(); };
    img.src = src;
  }

  const file = document.getElementById("draw-file");
  file.addEventListener("change", function () {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    const reader = new FileReader();
    reader.onload = function () {
      strokes.length = 0;
      other = { kind: "image", url: String(reader.result) };
      loadImage(other.url, false);
      analyze();
    };
    reader.readAsDataURL(chosen);
  });

  const testClass = document.getElementById("test-class");
  const testNext = document.getElementById("test-next");
  let shownClass = null; // the class of the test image on the canvas: "next" goes on from it
  if (testNext) {
    testNext.addEventListener("click", function () {
      strokes.length = 0;
      const after = other && other.kind === "test" && shownClass === testClass.value
        ? String(other.index) : "";
      post({ test_class: testClass.value, pick: "next", test: after });
    });
  }

  // What the server answered: a test image's index, or an upload as the network saw it,
  // becomes the link's input; a test image is shown on the canvas.
  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target.id !== "analysis") return;
    const pred = document.getElementById("prediction");
    if (!pred) clearLayers(); // an error instead: no maps of an earlier input stay
    if (!pred || strokes.length) return;
    if (pred.dataset.test !== undefined) {
      other = { kind: "test", index: Number(pred.dataset.test) };
      if (testClass && pred.dataset.true !== undefined) {
        testClass.value = pred.dataset.true;
        shownClass = testClass.value;
      }
      const seen = pred.querySelector(".seen img");
      if (seen) loadImage(seen.getAttribute("src"), true);
    } else if (other && other.kind === "image") {
      other.px = pred.dataset.px || "";
      other.kind = other.px ? "px" : "image";
    }
    writeUrl();
  });

  // ------------------------------------------------------------ restore from the link

  function pixelsImage(px) {
    const bytes = atob(px.replace(/-/g, "+").replace(/_/g, "/"));
    const side = Math.round(Math.sqrt(bytes.length));
    if (side * side !== bytes.length) return null; // not one gray square: shown as analysed
    const small = document.createElement("canvas");
    small.width = side; small.height = side;
    const sctx = small.getContext("2d");
    const img = sctx.createImageData(side, side);
    for (let i = 0; i < bytes.length; i++) {
      const v = bytes.charCodeAt(i); // as the network sees it (a test image is shown so too)
      img.data[4 * i] = v; img.data[4 * i + 1] = v; img.data[4 * i + 2] = v; img.data[4 * i + 3] = 255;
    }
    sctx.putImageData(img, 0, 0);
    small.pixelated = true;
    return small;
  }

  for (const s of JSON.parse(root.dataset.strokes || "[]")) strokes.push(s);
  if (root.dataset.test !== undefined) other = { kind: "test", index: Number(root.dataset.test) };
  else if (root.dataset.px) {
    other = { kind: "px", px: root.dataset.px };
    background = pixelsImage(root.dataset.px);
  }
  paint();
  if (strokes.length || other) analyze();
  else writeUrl();
})();
