// The Kernel Lab page (no inline script: the CSP forbids it).
//
// Small numeric inputs (the lesson's 5×5, typed numbers) are rendered by the server through
// htmx: tables, the worked-through cell. Photos, uploads and the webcam are convolved here,
// in the browser, by static/js/lab-engine.js: the same maths, from the exact pixels the
// server would use (GET /kernel-lab/source.png), so a change of kernel or slider redraws
// the maps without a request, an upload is sent once, and the webcam runs at the camera's
// frame rate. Every change is written into the URL (history.replaceState), so the page's
// address is always a link to exactly this state.
(function () {
  "use strict";
  const form = document.getElementById("lab-form");
  if (!form) return;
  const E = window.CnnpgLabEngine;
  const source = document.getElementById("source");
  const fileInput = document.getElementById("file");
  const uploadInput = document.getElementById("upload");
  const results = document.getElementById("results");
  const inspect = document.getElementById("inspect");
  const imageSources = form.dataset.imageSources.split(" ");
  const numericMax = Number(form.dataset.numericMax);
  const defaults = JSON.parse(form.dataset.defaults);
  // How the server writes an output size (app/geometry.py FORMULAS), filled in here.
  const formulas = JSON.parse(form.dataset.formulas);
  const lut = E.paletteWords(form.dataset.palette);
  const CHANNELS = ["R", "G", "B", "A"];
  const lab = (window.cnnpgLab = { frames: 0, fps: 0, renders: 0, last: null, state: null });
  let showInspector = /(^|[?&])(cell|pool_cell)=/.test(window.location.search);

  // ------------------------------------------------------------------ form state

  function showSourceFields() {
    form.dataset.source = source.value === "upload" || source.value === "matrix" ? source.value : "";
  }

  function value(name) {
    const el = form.elements[name];
    if (!el) return "";
    if (el.type === "checkbox") return el.checked;
    return el.value;
  }

  function settingsOf() {
    const pool = value("pool");
    return {
      stride: Number(value("stride")), padding: value("padding"), relu: value("relu"),
      pool: pool === "none" ? null : { type: pool, size: Number(value("pool_size")), stride: Number(value("pool_stride")) },
    };
  }

  function kernelOf() {
    const name = value("kernel");
    if (name !== "custom") {
      const option = document.querySelector('#kernel option[value="' + name + '"]');
      const m = JSON.parse(option.dataset.matrix);
      return { name: name, h: m.length, w: m[0].length, data: Float32Array.from(m.flat()) };
    }
    const cells = Array.from(document.querySelectorAll('#kernel-grid input[name="k"]'));
    const n = Math.round(Math.sqrt(cells.length));
    const data = Float32Array.from(cells.map(function (c) {
      const v = parseFloat(c.value);
      return isFinite(v) ? v : 0;
    }));
    return { name: "custom", h: n, w: n, data: data };
  }

  // The kernel grid shows the chosen kernel's weights (the server's kernel_editor.html).
  function drawGrid(rows) {
    const n = rows.length;
    const grid = document.getElementById("kernel-grid");
    grid.className = "kgrid kgrid-" + n;
    grid.textContent = "";
    rows.forEach(function (row, r) {
      row.forEach(function (v, c) {
        const input = document.createElement("input");
        input.name = "k";
        input.value = E.fmt(v);
        input.inputMode = "decimal";
        input.autocomplete = "off";
        input.setAttribute("aria-label", "weight row " + (r + 1) + " column " + (c + 1));
        grid.appendChild(input);
      });
    });
    const ksize = document.getElementById("ksize");
    if ([3, 5, 7].indexOf(n) >= 0) ksize.value = String(n);
  }

  // A grid of another size keeps its centre (zeros added, or edges cropped): resize_grid.
  function resizeGrid(size) {
    const k = kernelOf();
    const n = k.h, out = [];
    const src = Math.max((n - size) >> 1, 0), dst = Math.max((size - n) >> 1, 0), m = Math.min(n, size);
    for (let r = 0; r < size; r++) {
      out.push([]);
      for (let c = 0; c < size; c++) {
        const inside = r >= dst && r < dst + m && c >= dst && c < dst + m;
        out[r].push(inside ? k.data[(r - dst + src) * n + (c - dst + src)] : 0);
      }
    }
    drawGrid(out);
  }

  // ------------------------------------------------------------------ the URL

  function writeUrl() {
    const params = new URLSearchParams();
    const data = new FormData(form);
    const src = data.get("source");
    const custom = data.get("kernel") === "custom";
    params.set("source", src);
    if (src === "upload" && data.get("upload")) params.set("upload", data.get("upload"));
    if (src === "matrix") params.set("matrix", data.get("matrix"));
    if (data.get("channels") !== defaults.channels) params.set("channels", data.get("channels"));
    params.set("kernel", data.get("kernel"));
    if (custom) {
      params.set("ksize", data.get("ksize"));
      data.getAll("k").forEach(function (v) { params.append("k", v.trim() === "" ? "0" : v.trim()); });
    }
    ["stride", "padding", "pool"].forEach(function (k) {
      if (String(data.get(k)) !== String(defaults[k])) params.set(k, data.get(k));
    });
    if (data.get("relu")) params.set("relu", "true");
    if (data.get("pool") !== "none") {
      params.set("pool_size", data.get("pool_size"));
      params.set("pool_stride", data.get("pool_stride"));
    }
    if (showInspector || !isImage()) {
      if (data.get("cell") && data.get("cell") !== "0,0") params.set("cell", data.get("cell"));
      if (data.get("pool") !== "none" && data.get("pool_cell") && data.get("pool_cell") !== "0,0") {
        params.set("pool_cell", data.get("pool_cell"));
      }
      if (showInspector && isImage() && !params.has("cell")) params.set("cell", data.get("cell") || "0,0");
    }
    const url = "/kernel-lab?" + params.toString();
    if (url !== window.location.pathname + window.location.search) {
      window.history.replaceState(null, "", url);
      document.dispatchEvent(new CustomEvent("cnnpg:urlchange"));
    }
  }

  // ------------------------------------------------------------------ sources

  function isImage() { return imageSources.indexOf(source.value) >= 0; }
  const sourceCache = new Map();

  // The pixels the server would convolve, decoded without any colour conversion.
  function loadSource(src, upload) {
    const key = src + "|" + upload;
    if (!sourceCache.has(key)) {
      const url = "/kernel-lab/source.png?source=" + encodeURIComponent(src) +
        (src === "upload" ? "&upload=" + encodeURIComponent(upload) : "");
      sourceCache.set(key, fetch(url).then(function (r) {
        if (!r.ok) throw new E.LabError("upload", "that photo is no longer on the server: upload it again");
        const channels = Number(r.headers.get("X-Channels") || "3");
        return r.blob().then(function (blob) {
          return createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
        }).then(function (bitmap) {
          const c = document.createElement("canvas");
          c.width = bitmap.width;
          c.height = bitmap.height;
          const ctx = c.getContext("2d", { willReadFrequently: true });
          ctx.drawImage(bitmap, 0, 0);
          const rgba = ctx.getImageData(0, 0, c.width, c.height).data;
          return { rgba: rgba, h: c.height, w: c.width, channels: channels };
        });
      }));
      sourceCache.get(key).catch(function () { sourceCache.delete(key); });
    }
    return sourceCache.get(key);
  }

  function labelOf(src) {
    if (src === "upload") return "Your upload";
    if (src === "webcam") return "The webcam";
    const text = source.options[source.selectedIndex].textContent.trim();
    return text.charAt(0).toUpperCase() + text.slice(1).toLowerCase();
  }

  // ------------------------------------------------------------------ drawing the results

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function showErrors(lines) {
    results.textContent = "";
    const box = el("div", "errors");
    box.setAttribute("role", "alert");
    box.appendChild(el("strong", null, "That did not work:"));
    const ul = el("ul");
    lines.forEach(function (l) { ul.appendChild(el("li", null, l)); });
    box.appendChild(ul);
    results.appendChild(box);
    structure = null;
  }

  function formula(kind, g) { return E.formula(formulas[kind], g); }

  let structure = null;  // the key of the panels now on screen, to reuse their canvases

  function stagesOf(out, settings) {
    const stages = [{ key: "feature_map", title: "Feature map", maps: out.feature_map }];
    if (settings.relu) stages.push({ key: "activated", title: "After ReLU", maps: out.activated });
    if (out.pooled) {
      const t = settings.pool.type;
      stages.push({ key: "pooled", title: t.charAt(0).toUpperCase() + t.slice(1) + " pooled", maps: out.pooled });
    }
    return stages;
  }

  function shapeOf(maps, channels3d) {
    return channels3d ? [maps[0].h, maps[0].w, maps.length] : [maps[0].h, maps[0].w];
  }

  function build(src, stages, key) {
    results.textContent = "";
    const root = el("div", "lab-output client");
    root.id = "lab-output";
    root.appendChild(el("p", "lab-caption"));
    const f = el("div", "formula");
    f.setAttribute("aria-label", "Output size");
    root.appendChild(f);
    const panels = el("div", "panels");
    const all = [{ key: "input", title: "Input", maps: src.planes, input: true }].concat(stages);
    all.forEach(function (s) {
      const fig = el("figure", "panel");
      fig.dataset.stage = s.key;
      const cap = el("figcaption");
      cap.appendChild(el("span", "title", s.title));
      cap.appendChild(document.createTextNode(" "));
      cap.appendChild(el("span", "shape"));
      fig.appendChild(cap);
      const n = s.input ? 1 : s.maps.length;  // the input is one picture, in colour or gray
      const chans = el("div", "channels channels-" + n);
      for (let c = 0; c < n; c++) {
        const box = el("div", "channel");
        if (n > 1) box.appendChild(el("span", "chan", CHANNELS[c]));
        const canvas = el("canvas");
        canvas.dataset.stage = s.key;
        canvas.dataset.channel = String(c);
        canvas.setAttribute("role", "img");
        canvas.setAttribute("aria-label", s.title + (n > 1 ? " " + CHANNELS[c] : "") +
          (s.input ? "" : ": click a cell to see how it is computed"));
        if (!s.input) canvas.tabIndex = 0;
        box.appendChild(canvas);
        chans.appendChild(box);
      }
      fig.appendChild(chans);
      if (!s.input) {
        const legend = el("div", "legend");
        legend.setAttribute("aria-label", "Colour scale");
        legend.appendChild(el("div", "bar"));
        const ticks = el("div", "ticks");
        ticks.appendChild(el("span", "lo"));
        ticks.appendChild(el("span", null, "0"));
        ticks.appendChild(el("span", "hi"));
        legend.appendChild(ticks);
        const rangeText = el("div", "range");
        rangeText.append("min ", el("span", "min"), " · max ", el("span", "max"));
        legend.appendChild(rangeText);
        fig.appendChild(legend);
      }
      panels.appendChild(fig);
    });
    root.appendChild(panels);
    results.appendChild(root);
    structure = key;
  }

  // A canvas holds what the screen can show of a map: at most its displayed size in device
  // pixels (nearest-neighbour, as the pixelated scaling would show it), at most the map.
  function draw(canvas, w, h, fill) {
    // The displayed width is read once per layout (reading it after a change of the page
    // would force the browser to lay the page out again, on every change).
    if (!canvas._shown) canvas._shown = canvas.clientWidth || canvas.parentNode.clientWidth || 640;
    const shown = canvas._shown;
    const tw = Math.max(1, Math.min(w, Math.ceil(shown * (window.devicePixelRatio || 1))));
    const th = Math.max(1, Math.round(tw * h / w));
    canvas.dataset.width = String(w);
    canvas.dataset.height = String(h);
    if (canvas.width !== tw || canvas.height !== th) { canvas.width = tw; canvas.height = th; canvas._img = null; }
    const ctx = canvas.getContext("2d");
    if (!canvas._img) canvas._img = ctx.createImageData(tw, th);  // reused while the size stays
    fill(canvas._img);
    ctx.putImageData(canvas._img, 0, 0);
  }

  // Draw the input and every stage; the panels are built once and redrawn in place.
  function show(src, out, settings, kernel, live) {
    const stages = stagesOf(out, settings);
    const threeD = src.planes.length > 1;
    const key = [src.planes.length, stages.map(function (s) { return s.key; }).join()].join("|");
    if (structure !== key || !document.getElementById("lab-output")) build(src, stages, key);
    const root = document.getElementById("lab-output");
    root.dataset.kernel = kernel.name;
    const shapes = {
      input: threeD ? [src.h, src.w, src.planes.length] : [src.h, src.w], kernel: [kernel.h, kernel.w],
      feature_map: shapeOf(out.feature_map, threeD), activated: shapeOf(out.activated, threeD),
      pooled: out.pooled ? shapeOf(out.pooled, threeD) : null,
    };
    root.dataset.shapes = JSON.stringify(shapes);
    const cap = root.querySelector(".lab-caption");
    cap.textContent = "";
    cap.append(labelOf(source.value) + " · kernel ", el("strong", null, kernel.name.replace(/_/g, " ")),
      " " + kernel.h + "×" + kernel.w + " · stride " + settings.stride + " · padding “" + settings.padding + "”" +
      (settings.relu ? " · ReLU" : "") +
      (settings.pool ? " · " + settings.pool.type + " pool " + settings.pool.size + ", stride " + settings.pool.stride : ""));
    const f = root.querySelector(".formula");
    f.textContent = "";
    f.appendChild(el("strong", null, "Output size"));
    const kind = settings.padding === "same" ? "same" : "valid";
    const lines = [["height", formula(kind, out.geometry[0])], ["width", formula(kind, out.geometry[1])]];
    if (out.pooled) {
      const a = out.activated[0], p = settings.pool;
      lines.push(["pooled height", formula("pool", E.axis(a.h, p.size, p.stride, "valid"))]);
      lines.push(["pooled width", formula("pool", E.axis(a.w, p.size, p.stride, "valid"))]);
    }
    lines.forEach(function (l) {
      const d = el("div");
      d.append(el("span", "axis", l[0]), " ", el("code", null, l[1]));
      f.appendChild(d);
    });
    if (kind === "same") f.appendChild(el("p", "padding-note", form.dataset.samePaddingNote));
    // Input
    const inFig = root.querySelector('figure[data-stage="input"]');
    inFig.querySelector(".shape").textContent = shapes.input.join(" × ");
    const inCanvas = inFig.querySelector("canvas");
    draw(inCanvas, src.w, src.h, function (img) {
      E.paintInput(src.planes[0], threeD ? src.rgba : null, src.h, src.w, img);
    });
    stages.forEach(function (s) {
      const fig = root.querySelector('figure[data-stage="' + s.key + '"]');
      fig.querySelector(".shape").textContent = shapes[s.key].join(" × ");
      const r = E.range(s.maps);
      fig.querySelector(".lo").textContent = "−" + E.g4(r.bound);
      fig.querySelector(".hi").textContent = "+" + E.g4(r.bound);
      fig.querySelector(".min").textContent = E.g4(r.min);
      fig.querySelector(".max").textContent = E.g4(r.max);
      fig.querySelectorAll("canvas").forEach(function (canvas, c) {
        draw(canvas, s.maps[c].w, s.maps[c].h, function (img) { E.paint(s.maps[c], r.bound, lut, img); });
      });
    });
    if (showInspector && !live) renderInspector();
    if (!live || !markCells.done) markCells();
    markCells.done = live;
  }

  // ------------------------------------------------------------------ computing

  let current = null;  // {src, out, settings, kernel}: what is on screen, for the inspector

  function compute(src, live) {
    const settings = settingsOf();
    const kernel = kernelOf();
    const gray = value("channels") === "gray" || src.channels === 1;
    // Planes are made once per source and colour mode (Pillow's L conversion for gray).
    src.planes = src.planes || {};
    const key = gray ? "gray" : "rgb";
    if (!src.planes[key]) src.planes[key] = E.planesOf(src.rgba, src.w * src.h, src.channels, gray);
    const view = { planes: src.planes[key], h: src.h, w: src.w, rgba: src.rgba };
    const t0 = performance.now();
    const out = E.run(view.planes, src.h, src.w, kernel, settings);
    const t1 = performance.now();
    current = { src: view, out: out, settings: settings, kernel: kernel };
    lab.last = out;
    show(view, out, settings, kernel, live);
    lab.timing = { compute: t1 - t0, draw: performance.now() - t1 };  // for bench/lab_latency.py
  }

  let pending = false;
  let serverPass = false;
  let webcam = null;

  function schedule() {
    if (pending) return;
    pending = true;
    Promise.resolve().then(function () { pending = false; render(); });
  }

  function rendered() {
    lab.renders += 1;
    writeUrl();
    document.dispatchEvent(new CustomEvent("cnnpg:rendered"));
  }

  function render() {
    if (!isImage()) return;
    const src = source.value;
    if (src === "webcam") {
      if (webcam && webcam.frozen) { safely(function () { compute(webcam.frozen); }); rendered(); }
      else if (!webcam) startWebcam();
      return;
    }
    stopWebcam();
    if (src === "upload" && !uploadInput.value) return;  // wait for the file
    loadSource(src, uploadInput.value).then(function (s) {
      if (source.value !== src) return;
      const gray = value("channels") === "gray" || s.channels === 1;
      if (gray && Math.max(s.h, s.w) <= numericMax) {  // small enough for numbers: the server shows them
        serverPass = true;
        htmx.trigger(form, "submit");
        return;
      }
      safely(function () { compute(s); });
      rendered();
    }).catch(function (err) {
      showErrors([err instanceof E.LabError ? err.message : "the image could not be loaded: " + err]);
    });
  }

  function safely(fn) {
    try { fn(); } catch (err) {
      if (err instanceof E.LabError) showErrors([err.message]);
      else throw err;
    }
  }

  // ------------------------------------------------------------------ the picked cell

  function pickedCell(name, m) {
    const parts = (value(name) || "0,0").split(",").map(Number);
    return [Math.min(Math.max(parts[0] || 0, 0), m.h - 1), Math.min(Math.max(parts[1] || 0, 0), m.w - 1)];
  }

  // A box over rows [r0, r1] and columns [c0, c1] of a map drawn on `canvas` (clipped to
  // the map: padding lies outside it), at least 10 pixels a side so a 3×3 window on a photo
  // can be seen.
  function markBox(canvas, m, rows, cols, cls) {
    const cw = canvas.clientWidth / m.w, ch = canvas.clientHeight / m.h;
    const r0 = Math.max(0, rows[0]), r1 = Math.min(m.h - 1, rows[1]);
    const c0 = Math.max(0, cols[0]), c1 = Math.min(m.w - 1, cols[1]);
    if (r1 < r0 || c1 < c0) return;
    let left = c0 * cw, top = r0 * ch, width = (c1 - c0 + 1) * cw, height = (r1 - r0 + 1) * ch;
    if (width < 10) { left -= (10 - width) / 2; width = 10; }
    if (height < 10) { top -= (10 - height) / 2; height = 10; }
    const mark = el("span", cls);
    mark.style.left = (canvas.offsetLeft + left) + "px";
    mark.style.top = (canvas.offsetTop + top) + "px";
    mark.style.width = width + "px";
    mark.style.height = height + "px";
    mark.dataset.rows = rows.join(",");
    mark.dataset.cols = cols.join(",");
    canvas.parentNode.appendChild(mark);
  }

  function canvases(stage) {
    return document.querySelectorAll('#lab-output canvas[data-stage="' + stage + '"]');
  }

  // The picked cells, and the windows they read: the kernel's on the input, the pooling
  // window on the map it pools.
  function markCells() {
    document.querySelectorAll("#lab-output .cell-mark").forEach(function (m) { m.remove(); });
    if (!current || !showInspector) return;
    const out = current.out, m = out.feature_map[0];
    const rc = pickedCell("cell", m);
    ["feature_map", "activated"].forEach(function (stage) {
      canvases(stage).forEach(function (c) { markBox(c, m, [rc[0], rc[0]], [rc[1], rc[1]], "cell-mark"); });
    });
    const gy = out.geometry[0], gx = out.geometry[1], k = current.kernel, s = current.settings.stride;
    const y0 = rc[0] * s - gy.before, x0 = rc[1] * s - gx.before;
    canvases("input").forEach(function (c) {
      markBox(c, { h: current.src.h, w: current.src.w }, [y0, y0 + k.h - 1], [x0, x0 + k.w - 1],
        "cell-mark window-mark");
    });
    if (!out.pooled) return;
    const pm = out.pooled[0], p = current.settings.pool, pc = pickedCell("pool_cell", pm);
    canvases("pooled").forEach(function (c) { markBox(c, pm, [pc[0], pc[0]], [pc[1], pc[1]], "cell-mark"); });
    const rows = [pc[0] * p.stride, pc[0] * p.stride + p.size - 1];
    const cols = [pc[1] * p.stride, pc[1] * p.stride + p.size - 1];
    canvases(current.settings.relu ? "activated" : "feature_map").forEach(function (c) {
      markBox(c, out.activated[0], rows, cols, "cell-mark window-mark pool-window");
    });
  }

  function table(rows, cls) {
    const t = el("table", "grid " + (cls || ""));
    rows.forEach(function (row) {
      const tr = el("tr");
      row.forEach(function (cell) {
        const td = el("td", cell.css || "", cell.text);
        tr.appendChild(td);
      });
      t.appendChild(tr);
    });
    return t;
  }

  // How one output cell is computed, from the pixels under the kernel (zeros outside).
  function renderInspector() {
    if (!current) return;
    const c = current, m0 = c.out.feature_map[0];
    const [r, col] = pickedCell("cell", m0);
    const gy = c.out.geometry[0], gx = c.out.geometry[1], k = c.kernel, s = c.settings.stride;
    inspect.hidden = false;
    inspect.textContent = "";
    inspect.appendChild(el("strong", null, "Feature map cell (" + r + ", " + col + ")"));
    const y0 = r * s - gy.before, x0 = col * s - gx.before;
    c.src.planes.forEach(function (plane, ch) {
      const rows = [], terms = [];
      for (let a = 0; a < k.h; a++) {
        const row = [];
        for (let b = 0; b < k.w; b++) {
          const y = y0 + a, x = x0 + b;
          const inside = y >= 0 && y < c.src.h && x >= 0 && x < c.src.w;
          const v = inside ? plane[y * c.src.w + x] : 0;
          row.push({ text: E.fmt(v), css: inside ? "" : "pad" });
          terms.push(E.fmt(v) + "×" + E.fmt(k.data[a * k.w + b]));
        }
        rows.push(row);
      }
      const fm = c.out.feature_map[ch].data[r * m0.w + col];
      const box = el("div", "breakdown");
      if (c.src.planes.length > 1) box.appendChild(el("strong", null, "Channel " + CHANNELS[ch]));
      const grids = el("div", "inspect-grids");
      const f1 = el("figure");
      f1.appendChild(el("figcaption", null, "Input under the kernel (rows " + y0 + "–" + (y0 + k.h - 1) +
        ", columns " + x0 + "–" + (x0 + k.w - 1) + ")"));
      f1.appendChild(table(rows));
      const f2 = el("figure");
      f2.appendChild(el("figcaption", null, "Kernel"));
      const krows = [];
      for (let a = 0; a < k.h; a++) {
        krows.push([]);
        for (let b = 0; b < k.w; b++) krows[a].push({ text: E.fmt(k.data[a * k.w + b]) });
      }
      f2.appendChild(table(krows));
      grids.append(f1, f2);
      box.appendChild(grids);
      const p = el("p");
      p.append(el("span", "terms", terms.join(" + ")), " → ", el("strong", "sum", E.fmt(fm)));
      if (c.settings.relu) p.append(" · after ReLU ", el("strong", "relu-value", E.fmt(Math.max(fm, 0))));
      box.appendChild(p);
      inspect.appendChild(box);
    });
    if (c.out.pooled) {
      const pm = c.out.pooled[0], p = c.settings.pool;
      const [pr, pc] = pickedCell("pool_cell", pm);
      const box = el("div", "breakdown pool-breakdown");
      box.appendChild(el("strong", null, "Pooled cell (" + pr + ", " + pc + ")"));
      c.out.activated.forEach(function (a, ch) {
        const vals = [];
        for (let i = 0; i < p.size; i++) {
          for (let j = 0; j < p.size; j++) vals.push(E.fmt(E.valueAt(a, (pr * p.stride + i) * a.w + pc * p.stride + j)));
        }
        const line = el("p");
        line.append((c.out.pooled.length > 1 ? CHANNELS[ch] + ": " : ""), el("span", "terms", vals.join(", ")), " → ",
          el("strong", "sum", E.fmt(c.out.pooled[ch].data[pr * pm.w + pc])),
          " (the " + (p.type === "max" ? "max" : "mean") + " of the " + p.size + "×" + p.size + " window)");
        box.appendChild(line);
      });
      inspect.appendChild(box);
    }
    inspect.appendChild(el("p", "hint", "Click another cell of a map (or use the arrow keys on it) to see how it is computed."));
  }

  function pickFromCanvas(canvas, clientX, clientY) {
    if (!current) return;
    const stage = canvas.dataset.stage;
    if (stage === "input") return;
    const rect = canvas.getBoundingClientRect();
    const m = stage === "pooled" ? current.out.pooled[0] : current.out.feature_map[0];
    const r = Math.min(m.h - 1, Math.max(0, Math.floor((clientY - rect.top) / rect.height * m.h)));
    const c = Math.min(m.w - 1, Math.max(0, Math.floor((clientX - rect.left) / rect.width * m.w)));
    setCell(stage === "pooled" ? "pool_cell" : "cell", r, c);
  }

  function setCell(name, r, c) {
    form.elements[name].value = r + "," + c;
    showInspector = true;
    renderInspector();
    markCells();
    writeUrl();
  }

  // ------------------------------------------------------------------ the webcam

  function webcamMessage(text) {
    showErrors([text]);
    document.getElementById("webcam-fps").textContent = "no camera";
  }

  function startWebcam() {
    const bar = document.getElementById("webcam-bar");
    bar.hidden = false;
    const video = document.getElementById("webcam-video");
    webcam = { stream: null, running: true, frozen: null, times: [] };
    const me = webcam;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      webcamMessage("This browser gives no camera to this page: browsers allow one only on https:// " +
        "addresses or on localhost. Open the playground that way, or pick another image: the rest of the " +
        "lab works as before.");
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 320 }, height: { ideal: 240 } }, audio: false })
      .then(function (stream) {
        if (webcam !== me) { stream.getTracks().forEach(function (t) { t.stop(); }); return; }
        me.stream = stream;
        video.srcObject = stream;
        return video.play().then(function () { loop(me, video); });
      })
      .catch(function (err) {
        if (webcam !== me) return;
        const why = {
          NotAllowedError: "the browser (or you) refused this page the camera; allow it in the address bar's " +
            "site settings and choose Webcam again",
          NotFoundError: "no camera was found",
          NotReadableError: "the camera is in use by another program",
          OverconstrainedError: "the camera cannot give a picture of a usable size",
        }[err && err.name] || ("the camera could not be started (" + (err && err.name) + ")");
        webcamMessage("No webcam: " + why + ". Pick another image: the rest of the lab works as before.");
      });
  }

  const W = 320, H = 240;

  function loop(me, video) {
    const work = document.createElement("canvas");
    work.width = W;
    work.height = H;
    const ctx = work.getContext("2d", { willReadFrequently: true });
    const fps = document.getElementById("webcam-fps");
    function frame() {
      if (webcam !== me || !me.running) return;
      ctx.drawImage(video, 0, 0, W, H);
      const rgba = ctx.getImageData(0, 0, W, H).data;
      const s = { rgba: rgba, h: H, w: W, channels: 3, canvas: work };
      safely(function () { compute(s, true); });
      me.last = s;
      lab.frames += 1;
      const now = performance.now();
      me.times.push(now);
      while (me.times.length && me.times[0] < now - 1000) me.times.shift();
      lab.fps = me.times.length;
      fps.dataset.fps = String(lab.fps);
      fps.textContent = lab.fps + " frames per second · 320×240";
      next();
    }
    function next() {
      if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(frame);
      else requestAnimationFrame(frame);
    }
    writeUrl();
    next();
  }

  function stopWebcam() {
    if (!webcam) return;
    if (webcam.stream) webcam.stream.getTracks().forEach(function (t) { t.stop(); });
    webcam = null;
    document.getElementById("webcam-bar").hidden = true;
    const pause = document.getElementById("webcam-pause");
    pause.textContent = "Pause";
    pause.setAttribute("aria-pressed", "false");
    document.getElementById("webcam-share").hidden = true;
  }

  document.getElementById("webcam-pause").addEventListener("click", function () {
    if (!webcam || !webcam.last) return;
    const pause = this;
    if (webcam.running) {
      webcam.running = false;
      webcam.frozen = webcam.last;
      pause.textContent = "Resume";
      pause.setAttribute("aria-pressed", "true");
      document.getElementById("webcam-share").hidden = false;
      document.getElementById("webcam-fps").textContent = "paused: click a map to study a cell";
      showInspector = true;
      renderInspector();
      markCells();
    } else {
      webcam.running = true;
      webcam.frozen = null;
      pause.textContent = "Pause";
      pause.setAttribute("aria-pressed", "false");
      document.getElementById("webcam-share").hidden = true;
      loop(webcam, document.getElementById("webcam-video"));
    }
  });

  // A frozen frame becomes an upload: sent once, then linkable like any photo.
  document.getElementById("webcam-share").addEventListener("click", function () {
    if (!webcam || !webcam.frozen) return;
    webcam.frozen.canvas.toBlob(function (blob) {
      const frozen = webcam && webcam.frozen;
      sendUpload(new File([blob], "webcam.png", { type: "image/png" }), function () {
        if (frozen) sourceCache.delete("upload|" + uploadInput.value);
      });
    }, "image/png");
  });

  // ------------------------------------------------------------------ uploads: sent once

  function sendUpload(file, done) {
    const body = new FormData();
    body.append("file", file);
    results.classList.add("htmx-request");
    fetch("/kernel-lab/uploads", { method: "POST", body: body })
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        results.classList.remove("htmx-request");
        if (answer.errors) { showErrors(answer.errors); return; }
        uploadInput.value = answer.id;
        source.value = "upload";
        showSourceFields();
        if (done) done();
        render();
      })
      .catch(function (err) {
        results.classList.remove("htmx-request");
        showErrors(["file: the upload failed (" + err + ")"]);
      });
  }

  fileInput.addEventListener("change", function () {
    if (fileInput.files.length) sendUpload(fileInput.files[0]);
  });

  // ------------------------------------------------------------------ events

  showSourceFields();
  source.addEventListener("change", showSourceFields);

  // Image sources never go to the server on a change (but the small ones, as numbers).
  form.addEventListener("htmx:confirm", function (e) {
    if (isImage() && !serverPass) e.preventDefault();
    serverPass = false;
  });
  form.addEventListener("htmx:afterSettle", function () { rendered(); });

  form.addEventListener("input", function (e) {
    if (e.target.name === "k") document.getElementById("kernel").value = "custom";
    const out = e.target.dataset && e.target.dataset.show;
    if (out) document.getElementById(out).value = e.target.value;
    if (isImage()) schedule();
  });
  form.addEventListener("change", function (e) {
    const t = e.target;
    if (t.name === "ksize") {
      document.getElementById("kernel").value = "custom";
      if (isImage()) resizeGrid(Number(t.value));
    }
    if (t.name === "kernel" && t.value !== "custom" && isImage()) {
      drawGrid(JSON.parse(t.options[t.selectedIndex].dataset.matrix));
    }
    if (t.name === "source") {
      inspect.hidden = true;
      if (!isImage()) { stopWebcam(); return; }  // htmx renders it
    }
    if (isImage()) schedule();
    else writeUrl();
  }, true);

  // Pick an output cell (or a pooled cell) to see how it is computed.
  function pick(td) {
    document.getElementById(td.dataset.field).value = td.dataset.cell;
    htmx.trigger(form, "change");
  }
  document.addEventListener("click", function (e) {
    const td = e.target.closest("#results td[data-field]");
    if (td) { pick(td); return; }
    const canvas = e.target.closest("#results canvas");
    if (canvas) pickFromCanvas(canvas, e.clientX, e.clientY);
  });
  document.addEventListener("keydown", function (e) {
    const td = e.target.closest && e.target.closest("#results td[data-field]");
    if (td && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); pick(td); return; }
    const canvas = e.target.closest && e.target.closest("#results canvas[tabindex]");
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (canvas && current && (moves[e.key] || e.key === "Enter")) {
      e.preventDefault();
      const name = canvas.dataset.stage === "pooled" ? "pool_cell" : "cell";
      const m = name === "pool_cell" ? current.out.pooled[0] : current.out.feature_map[0];
      const rc = pickedCell(name, m), d = moves[e.key] || [0, 0];
      setCell(name, Math.min(m.h - 1, Math.max(0, rc[0] + d[0])), Math.min(m.w - 1, Math.max(0, rc[1] + d[1])));
    }
  });
  function redraw() {
    document.querySelectorAll("#lab-output canvas").forEach(function (c) { c._shown = 0; });
    if (current && isImage() && document.getElementById("lab-output")) {
      show(current.src, current.out, current.settings, current.kernel, false);
    }
  }
  window.addEventListener("resize", redraw);
  window.addEventListener("cnnpg:projector", redraw);

  // The server drew the first state; photos, uploads and the webcam are redrawn here.
  if (isImage()) render(); else writeUrl();
})();
