// The Explain page: the input (a drawing, an upload or a test image), the overview, the neuron
// view and the saliency panel, all posted with the page's form; the state lives in the URL
// (model, source, px or index and class, layer, channel, cell, method, target) and is
// restored from it when the page opens.
(function () {
  "use strict";
  const form = document.getElementById("explain-form");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const field = (name) => form.elements.namedItem(name);
  const MAX_URL_PX = 8000; // larger inputs are not kept in the URL
  let inputKind = ""; // "image" (a fresh drawing or upload), "px" (restored pixels), "test"

  // ------------------------------------------------------------------ state and the URL

  function source() {
    const checked = form.querySelector('input[name="source"]:checked');
    return checked ? checked.value : "upload";
  }
  function setSource(value) {
    const radio = form.querySelector('input[name="source"][value="' + value + '"]');
    if (radio && !radio.disabled) radio.checked = true;
    form.dataset.source = source();
  }
  function setRadio(name, value) {
    const radio = form.querySelector('input[name="' + name + '"][value="' + value + '"]');
    if (radio) radio.checked = true;
  }

  function writeUrl() {
    const p = new URLSearchParams();
    p.set("model", field("model").value);
    p.set("source", source());
    if (source() === "test") {
      if ($("ex-class")) p.set("class", $("ex-class").value);
      if ($("ex-index").value) p.set("index", $("ex-index").value);
    } else if ($("ex-px").value && $("ex-px").value.length <= MAX_URL_PX) {
      p.set("px", $("ex-px").value);
    }
    for (const name of ["layer", "channel", "cell"]) {
      if (field(name).value) p.set(name, field(name).value);
    }
    const method = form.querySelector('input[name="method"]:checked');
    if (method && method.value !== "gradcam") p.set("method", method.value);
    if ($("ex-target").value) p.set("target", $("ex-target").value);
    const url = "/explain?" + p.toString();
    if (url !== location.pathname + location.search) {
      history.replaceState(null, "", url);
      document.dispatchEvent(new CustomEvent("cnnpg:urlchange"));
    }
  }

  function values(extra) {
    const v = {};
    new FormData(form).forEach(function (value, key) { if (typeof value === "string") v[key] = value; });
    if (inputKind === "px") { v.source = "pixels"; v.image = ""; }
    if (inputKind === "image") v.px = "";
    return Object.assign(v, extra || {});
  }

  function post(url, target, extra) {
    htmx.ajax("POST", url, { source: target, target: target, swap: "innerHTML", values: values(extra) });
  }

  function hasInput() {
    return inputKind === "test" ? $("ex-index").value !== "" || $("ex-pick").value !== ""
      : inputKind !== "";
  }

  function refreshAll() {
    if (!hasInput()) return;
    post("/explain/overview", "#overview");
    if (field("layer").value) post("/explain/neuron", "#neuron");
    post("/explain/saliency", "#saliency");
  }

  function showNeuron() {
    writeUrl();
    placeNeuron();
    if (hasInput() && field("layer").value) post("/explain/neuron", "#neuron");
  }

  // ------------------------------------------------------------------------ drawing

  const canvas = $("ex-pad");
  const strokes = [];
  let background = null; // a restored input, painted under the strokes
  let current = null;
  let timer = null;
  const ctx = canvas ? canvas.getContext("2d") : null;
  const LINE = canvas ? canvas.width / 12.5 : 0;

  function paint() {
    if (!ctx) return;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (background) {
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(background, 0, 0, canvas.width, canvas.height);
    }
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

  function drawn() {
    clearTimeout(timer);
    timer = null;
    if (!strokes.length && !background) {
      inputKind = "";
      $("ex-image").value = "";
      $("ex-px").value = "";
      writeUrl();
      return;
    }
    if (strokes.length) {
      inputKind = "image";
      $("ex-image").value = canvas.toDataURL("image/png");
    }
    refreshAll();
  }

  if (canvas) {
    const point = function (e) {
      const r = canvas.getBoundingClientRect();
      return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
    };
    canvas.addEventListener("pointerdown", function (e) {
      e.preventDefault();
      try { canvas.setPointerCapture(e.pointerId); } catch (_) { /* synthetic or already gone */ }
      setSource("draw");
      current = [point(e)];
      strokes.push(current);
      paint();
    });
    canvas.addEventListener("pointermove", function (e) {
      if (!current) return;
      current.push(point(e));
      paint();
      if (!timer) timer = setTimeout(drawn, 300);
    });
    const end = function () { if (current) { current = null; drawn(); } };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    $("ex-undo").addEventListener("click", function () { strokes.pop(); paint(); drawn(); });
    $("ex-clear").addEventListener("click", function () {
      strokes.length = 0; background = null; paint(); drawn();
    });
    paint();
  }

  // A restored 28×28 input (white ink on black, as MNIST) painted as dark ink on the canvas.
  function paintPixels(px) {
    if (!ctx) return;
    const bytes = atob(px.replace(/-/g, "+").replace(/_/g, "/"));
    const side = Math.round(Math.sqrt(bytes.length));
    if (side * side !== bytes.length) return;
    const small = document.createElement("canvas");
    small.width = side; small.height = side;
    const sctx = small.getContext("2d");
    const img = sctx.createImageData(side, side);
    for (let i = 0; i < bytes.length; i++) {
      const v = 255 - bytes.charCodeAt(i);
      img.data[4 * i] = v; img.data[4 * i + 1] = v; img.data[4 * i + 2] = v; img.data[4 * i + 3] = 255;
    }
    sctx.putImageData(img, 0, 0);
    background = small;
    paint();
  }

  // ------------------------------------------------------------------------- upload

  const file = $("ex-file");
  file.addEventListener("change", function () {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    const reader = new FileReader();
    reader.onload = function () {
      setSource("upload");
      inputKind = "image";
      $("ex-image").value = String(reader.result);
      refreshAll();
    };
    reader.readAsDataURL(chosen);
  });

  // --------------------------------------------------------------------- test images

  function pickTest(how) {
    setSource("test");
    inputKind = "test";
    $("ex-pick").value = how;
    refreshAll();
  }
  if ($("ex-class")) {
    $("ex-class").addEventListener("change", function () { pickTest("first"); });
    $("ex-next").addEventListener("click", function () { pickTest("next"); });
    $("ex-prev").addEventListener("click", function () { pickTest("previous"); });
  }

  // ------------------------------------------------------------------ the controls

  form.addEventListener("change", function (e) {
    const name = e.target.name;
    if (name === "source") {
      form.dataset.source = source();
      if (source() === "test" && $("ex-class") && !$("ex-index").value) pickTest("first");
      writeUrl();
    } else if (name === "model") {
      location.href = "/explain?model=" + encodeURIComponent(e.target.value);
    } else if (name === "method" || name === "target") {
      writeUrl();
      if (hasInput()) post("/explain/saliency", "#saliency");
    }
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); });

  // The neuron view opens right under the layer it explains; it goes home before the
  // overview is drawn again, and back under its layer after.
  const neuronHome = $("neuron");
  function placeNeuron() {
    const layer = field("layer").value;
    const row = layer ? document.querySelector('#overview .ov-layer[data-layer="' + CSS.escape(layer) + '"]') : null;
    if (row) row.after(neuronHome);
    else $("overview").after(neuronHome);
  }
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.target.id === "overview" && $("overview").contains(neuronHome)) {
      $("overview").after(neuronHome);
    }
  });

  // Lines on the left join a layer (or block) to an input that is not the row above it.
  function drawArcs() {
    const graph = $("ov-graph");
    if (!graph) return;
    const svg = graph.querySelector("svg.ov-arcs");
    const rows = Array.from(graph.children).filter(function (el) { return el.dataset.inputs !== undefined || el.matches(".ov-layer, .ov-block"); });
    const top = graph.getBoundingClientRect().top;
    const centre = function (el) { const r = el.getBoundingClientRect(); return r.top - top + Math.min(r.height / 2, 14); };
    const paths = [];
    rows.forEach(function (row, i) {
      if (!row.dataset.inputs) return;
      row.dataset.inputs.split(",").forEach(function (name) {
        const src = rows.find(function (r) { return r.dataset.layer === name || r.dataset.block === name; });
        if (!src || src === rows[i - 1]) return;
        const y1 = centre(src), y2 = centre(row), bend = 4 + 6 * (paths.length % 3);
        paths.push('<path d="M 26 ' + y1 + ' C ' + bend + ' ' + y1 + ', ' + bend + ' ' + y2 + ', 26 ' + y2 + '"/>');
      });
    });
    svg.setAttribute("height", String(graph.scrollHeight));
    svg.innerHTML = paths.join("");
  }
  window.addEventListener("resize", drawArcs);
  document.addEventListener("toggle", function (e) {
    const details = e.target;
    if (!details.closest || !details.closest("#ov-graph .ov-block")) return;
    const name = details.parentElement.dataset.block;
    const opened = new Set(($("ex-opened").value || "").split(",").filter(Boolean));
    if (details.open) opened.add(name); else opened.delete(name);
    $("ex-opened").value = Array.from(opened).join(",");
    const body = details.querySelector(".ov-block-body");
    if (details.open && !body.children.length) {
      htmx.ajax("POST", "/explain/overview", { source: body, target: body, swap: "innerHTML", values: values({ block: name }) })
        .then(drawArcs);
    } else {
      drawArcs();
    }
  }, true);

  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target.id !== "overview") return;
    const ov = $("ov");
    placeNeuron();
    drawArcs();
    if (!ov) return;
    $("ex-pick").value = "";
    if (ov.dataset.index !== undefined) {
      $("ex-index").value = ov.dataset.index;
      const caption = $("ex-test-caption");
      if (caption) caption.textContent = "test image #" + ov.dataset.index;
    } else {
      $("ex-px").value = ov.dataset.px || "";
    }
    writeUrl();
  });

  // A channel of the overview, or a unit of a dense layer's bars: open its neuron view.
  document.addEventListener("click", function (e) {
    const more = e.target.closest("button.more-channels[data-every]");
    if (more) {
      const row = more.closest(".ov-layer");
      htmx.ajax("POST", "/explain/overview", { source: row, target: row, swap: "outerHTML", values: values({ every: more.dataset.every }) })
        .then(drawArcs);
      return;
    }
    const tile = e.target.closest("button.tile[data-channel]");
    if (tile) {
      // Opened from the keyboard (a click with no pointer): the keyboard goes on in the view.
      toNeuron = e.detail === 0;
      field("layer").value = tile.dataset.layer;
      field("channel").value = tile.dataset.channel;
      field("cell").value = "";
      showNeuron();
      return;
    }
    const strip = e.target.closest("img.strip.clickable");
    if (strip) {
      const units = Number(strip.dataset.units);
      pickUnit(strip.parentElement, Math.floor(e.offsetX / strip.clientWidth * units));
      return;
    }
    const map = e.target.closest("#neuron .map.pickable .map-box");
    if (map) {
      const fig = map.parentElement;
      const r = map.getBoundingClientRect();
      const rows = Number(fig.dataset.rows), cols = Number(fig.dataset.cols);
      pickCell(map, Math.floor((e.clientY - r.top) / r.height * rows),
        Math.floor((e.clientX - r.left) / r.width * cols));
    }
  });

  // A dense layer's unit (its bar strip is a slider: arrow keys, Home, End) opens at once.
  function pickUnit(box, unit) {
    const units = Number(box.getAttribute("aria-valuemax")) + 1;
    unit = Math.min(units - 1, Math.max(0, unit));
    box.setAttribute("aria-valuenow", String(unit));
    box.setAttribute("aria-valuetext", "unit " + unit);
    field("layer").value = box.dataset.layer;
    field("channel").value = String(unit);
    field("cell").value = "";
    showNeuron();
  }

  // A cell of a map of the open neuron (any of its maps: they share the output's cells).
  // The view is drawn again for the new cell, so the map keeps the keyboard's focus after.
  let refocus = null;
  function pickCell(map, row, col) {
    const fig = map.parentElement;
    const rows = Number(fig.dataset.rows), cols = Number(fig.dataset.cols);
    row = Math.min(rows - 1, Math.max(0, row));
    col = Math.min(cols - 1, Math.max(0, col));
    field("cell").value = row + "," + col;
    refocus = document.activeElement === map ? map.getAttribute("aria-label") : null;
    showNeuron();
  }

  const MOVES = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
  document.addEventListener("keydown", function (e) {
    if (!e.target.closest) return;
    const box = e.target.closest(".strip-box[role=slider]");
    if (box) {
      const now = Number(box.getAttribute("aria-valuenow")), last = Number(box.getAttribute("aria-valuemax"));
      const to = { ArrowRight: now + 1, ArrowUp: now + 1, ArrowLeft: now - 1, ArrowDown: now - 1,
        Home: 0, End: last, PageUp: now + 10, PageDown: now - 10, Enter: now, " ": now }[e.key];
      if (to !== undefined) { e.preventDefault(); pickUnit(box, to); }
      return;
    }
    const map = e.target.closest("#neuron .map.pickable .map-box");
    if (map && (MOVES[e.key] || e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      const picked = field("cell").value ? field("cell").value.split(",").map(Number) : null;
      const d = MOVES[e.key] || [0, 0];
      if (!picked) pickCell(map, 0, 0);
      else pickCell(map, picked[0] + d[0], picked[1] + d[1]);
    }
  });
  let toNeuron = false;
  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.detail.target.id !== "neuron") return;
    if (toNeuron) {
      toNeuron = false;
      const heading = document.querySelector("#neuron-view h2");
      if (heading) heading.focus();
    }
    if (!refocus) return;
    const again = Array.from(document.querySelectorAll("#neuron .map.pickable .map-box"))
      .find(function (m) { return m.getAttribute("aria-label") === refocus; });
    refocus = null;
    if (again) again.focus();
  });

  // ------------------------------------------------------------ restore from the URL

  // The state the link held, made valid by the server (app/networks/explain/link.py).
  const q = new URLSearchParams(form.dataset.query || location.search);
  for (const name of ["layer", "channel", "cell"]) field(name).value = q.get(name) || "";
  if (q.get("method")) setRadio("method", q.get("method"));
  if (q.get("target")) $("ex-target").value = q.get("target");
  const wanted = q.get("source");
  if (wanted) setSource(wanted === "pixels" ? (canvas ? "draw" : "upload") : wanted);
  form.dataset.source = source();
  if (source() === "test" && $("ex-class")) {
    if (q.get("class")) $("ex-class").value = q.get("class");
    inputKind = "test";
    if (q.get("index")) $("ex-index").value = q.get("index");
    else $("ex-pick").value = "first";
    refreshAll();
  } else if (q.get("px")) {
    inputKind = "px";
    $("ex-px").value = q.get("px");
    if (source() === "draw") paintPixels(q.get("px"));
    refreshAll();
  } else {
    writeUrl();
  }
})();
