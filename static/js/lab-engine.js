// The Kernel Lab's maths in the browser: exactly what app/lab/convolution.py computes (and
// so what Keras computes): Conv2D as a cross-correlation with TensorFlow's "same"/"valid"
// padding for any stride, ReLU, MaxPooling2D/AveragePooling2D with "valid" windows; and
// maps drawn on the server's diverging palette (app/imaging/rendering.py), symmetric
// about zero. Float32 throughout, like the server. No DOM here but ImageData.
(function (global) {
  "use strict";

  class LabError extends Error {
    constructor(field, message) {
      super(field + ": " + message);
      this.field = field;
      this.detail = message;
    }
  }

  // One spatial axis: ⌊(n + p₁ + p₂ − k) / s⌋ + 1; "same" gives ⌈n / s⌉ and pads the end by
  // the odd pixel (TensorFlow's rule).
  function axis(n, k, s, padding) {
    if (padding === "valid") return { n: n, k: k, s: s, before: 0, after: 0, out: Math.floor((n - k) / s) + 1 };
    const out = Math.ceil(n / s);
    const total = Math.max((out - 1) * s + k - n, 0);
    const before = Math.floor(total / 2);
    return { n: n, k: k, s: s, before: before, after: total - before, out: out };
  }

  // An output size written out: one of the server's templates (app/geometry.py FORMULAS,
  // sent with the page) with this axis' numbers filled in.
  function formula(template, g) {
    const values = { n: g.n, k: g.k, s: g.s, before: g.before, after: g.after, out: g.out };
    return template.replace(/\{(\w+)\}/g, function (_, name) { return String(values[name]); });
  }

  // The plane with zeros around it (for "same" padding), made once per plane and size.
  function padded(src, h, w, top, bottom, left, right) {
    if (!top && !bottom && !left && !right) return { data: src, w: w };
    const key = top + "," + bottom + "," + left + "," + right;
    src._padded = src._padded || {};
    if (!src._padded[key]) {
      const pw = w + left + right;
      const out = new Float32Array((h + top + bottom) * pw);
      for (let y = 0; y < h; y++) out.set(src.subarray(y * w, y * w + w), (y + top) * pw + left);
      src._padded[key] = out;
    }
    return { data: src._padded[key], w: w + left + right };
  }

  // One plane (h × w, Float32Array) and one kernel (kh × kw) → the feature map, with its
  // smallest and largest value. Each output is its window's products summed in one go.
  function correlate(src, h, w, kernel, kh, kw, stride, padding) {
    const gy = axis(h, kh, stride, padding);
    const gx = axis(w, kw, stride, padding);
    if (gy.out < 1 || gx.out < 1) {
      throw new LabError("kernel", "a " + kh + "×" + kw + " kernel does not fit a " + h + "×" + w +
        ' image without padding; use padding "same" or a smaller kernel');
    }
    const oh = gy.out, ow = gx.out;
    // Zeros wherever a window reaches past the image (TensorFlow pads at most the kernel).
    const needB = Math.max(0, (oh - 1) * stride + kh - h - gy.before);
    const needR = Math.max(0, (ow - 1) * stride + kw - w - gx.before);
    const P = padded(src, h, w, gy.before, needB, gx.before, needR);
    const d = P.data, W = P.w;
    const out = new Float32Array(oh * ow);
    let lo = Infinity, hi = -Infinity;
    if (kh === 3 && kw === 3) {
      const k0 = kernel[0], k1 = kernel[1], k2 = kernel[2], k3 = kernel[3], k4 = kernel[4],
        k5 = kernel[5], k6 = kernel[6], k7 = kernel[7], k8 = kernel[8];
      for (let i = 0; i < oh; i++) {
        let p = i * stride * W;
        let q = i * ow;
        for (let j = 0; j < ow; j++, p += stride) {
          const v = Math.fround(k0 * d[p] + k1 * d[p + 1] + k2 * d[p + 2] +
            k3 * d[p + W] + k4 * d[p + W + 1] + k5 * d[p + W + 2] +
            k6 * d[p + 2 * W] + k7 * d[p + 2 * W + 1] + k8 * d[p + 2 * W + 2]);
          out[q++] = v;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
    } else {
      const offs = [], wts = [];
      for (let a = 0; a < kh; a++) {
        for (let b = 0; b < kw; b++) {
          if (kernel[a * kw + b] !== 0) { offs.push(a * W + b); wts.push(kernel[a * kw + b]); }
        }
      }
      const n = offs.length, O = Int32Array.from(offs), K = Float64Array.from(wts);
      for (let i = 0; i < oh; i++) {
        let p = i * stride * W;
        let q = i * ow;
        for (let j = 0; j < ow; j++, p += stride) {
          let acc = 0;
          for (let t = 0; t < n; t++) acc += K[t] * d[p + O[t]];
          const v = Math.fround(acc);
          out[q++] = v;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
    }
    return { data: out, h: oh, w: ow, gy: gy, gx: gx, min: lo, max: hi };
  }

  // ReLU as a view of the feature map (no copy): whoever reads it takes max(x, 0).
  function relu(m) {
    return { data: m.data, h: m.h, w: m.w, relu: true, min: Math.max(m.min, 0), max: Math.max(m.max, 0) };
  }

  function valueAt(m, i) {
    const v = m.data[i];
    return m.relu && v < 0 ? 0 : v;
  }

  function pool(m, kind, size, stride) {
    if (size > m.h || size > m.w) {
      throw new LabError("pool.size", "a " + size + "×" + size + " window does not fit the " +
        m.h + "×" + m.w + " map it pools");
    }
    const oh = Math.floor((m.h - size) / stride) + 1;
    const ow = Math.floor((m.w - size) / stride) + 1;
    const out = new Float32Array(oh * ow);
    const d = m.data, w = m.w, isMax = kind === "max", area = size * size, r = !!m.relu;
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < oh; i++) {
      let q = i * ow;
      for (let j = 0; j < ow; j++) {
        const base = i * stride * w + j * stride;
        let v;
        if (isMax && size === 2) {  // the common case, unrolled
          const a = d[base], b = d[base + 1], c = d[base + w], e = d[base + w + 1];
          v = a > b ? a : b;
          if (c > v) v = c;
          if (e > v) v = e;
          if (r && v < 0) v = 0;  // max of ReLUs is the ReLU of the max
        } else {
          let acc = isMax ? -Infinity : 0;
          for (let a = 0; a < size; a++) {
            const row = base + a * w;
            for (let b = 0; b < size; b++) {
              let x = d[row + b];
              if (r && x < 0) x = 0;
              if (isMax) { if (x > acc) acc = x; } else acc = Math.fround(acc + x);
            }
          }
          v = isMax ? acc : Math.fround(acc / area);
        }
        out[q++] = v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    return { data: out, h: oh, w: ow, min: lo, max: hi };
  }

  // One scale for all the channels of a stage (their min and max were kept as they were made).
  function range(maps) {
    let lo = Infinity, hi = -Infinity;
    maps.forEach(function (m) {
      if (m.min < lo) lo = m.min;
      if (m.max > hi) hi = m.max;
    });
    return { min: lo, max: hi, bound: Math.max(Math.abs(lo), Math.abs(hi)) || 1 };
  }

  // settings: {stride, padding, relu, pool: null | {type, size, stride}}
  // planes: [Float32Array] (one per channel, each h × w); kernel: {data, h, w}
  function run(planes, h, w, kernel, settings) {
    const fmaps = planes.map(function (p) {
      return correlate(p, h, w, kernel.data, kernel.h, kernel.w, settings.stride, settings.padding);
    });
    const activated = settings.relu ? fmaps.map(relu) : fmaps;
    let pooled = null;
    if (settings.pool) {
      pooled = activated.map(function (m) { return pool(m, settings.pool.type, settings.pool.size, settings.pool.stride); });
    }
    return { feature_map: fmaps, activated: activated, pooled: pooled, geometry: [fmaps[0].gy, fmaps[0].gx] };
  }

  // The palette as 256 little-endian RGBA words, from "rrggbb" × 256.
  function paletteWords(hex) {
    const lut = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      const r = parseInt(hex.substr(i * 6, 2), 16), g = parseInt(hex.substr(i * 6 + 2, 2), 16),
        b = parseInt(hex.substr(i * 6 + 4, 2), 16);
      lut[i] = (255 << 24 | b << 16 | g << 8 | r) >>> 0;
    }
    return lut;
  }

  // Which source row (or column) each of `n` screen pixels shows: the nearest, as the
  // page's pixelated scaling would pick. The screen never shows more pixels than it has.
  function sampling(n, size) {
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) idx[i] = Math.min(size - 1, Math.floor((i + 0.5) * size / n));
    return idx;
  }

  // A map into ImageData (tw × th, at most the map's size) on the signed scale:
  // index = rint(x · 127.5 / bound + 127.5), as the server's signed_map_image (numpy's rint
  // rounds half to even; a float32 array times a scalar stays float32).
  function paint(m, bound, lut, imageData) {
    const u32 = new Uint32Array(imageData.data.buffer);
    const tw = imageData.width, th = imageData.height;
    const rows = sampling(th, m.h), cols = sampling(tw, m.w);
    const d = m.data, scale = Math.fround(127.5 / bound), r0 = !!m.relu;
    let q = 0;
    for (let y = 0; y < th; y++) {
      const row = rows[y] * m.w;
      for (let x = 0; x < tw; x++) {
        let v = d[row + cols[x]];
        if (r0 && v < 0) v = 0;
        const t = Math.fround(Math.fround(v * scale) + 127.5);
        let r = Math.round(t);
        if (r - t === 0.5 && (r & 1)) r -= 1;
        u32[q++] = lut[r < 0 ? 0 : r > 255 ? 255 : r];
      }
    }
    return imageData;
  }

  // The input: a gray plane, or the RGBA pixels as they are, at the same screen size.
  function paintInput(plane, rgba, h, w, imageData) {
    const u32 = new Uint32Array(imageData.data.buffer);
    const tw = imageData.width, th = imageData.height;
    const rows = sampling(th, h), cols = sampling(tw, w);
    const src32 = rgba ? new Uint32Array(rgba.buffer, rgba.byteOffset, h * w) : null;
    let q = 0;
    for (let y = 0; y < th; y++) {
      const row = rows[y] * w;
      for (let x = 0; x < tw; x++) {
        if (src32) u32[q++] = src32[row + cols[x]] | 0xff000000;
        else {
          const v = plane[row + cols[x]] | 0;
          u32[q++] = (255 << 24 | v << 16 | v << 8 | v) >>> 0;
        }
      }
    }
    return imageData;
  }

  // RGBA bytes → planes: Pillow's own RGB → L conversion (ITU-R 601-2 luma, in integers) for
  // grayscale, or the red, green and blue planes.
  function planesOf(rgba, n, channels, gray) {
    if (channels === 1 || gray) {
      const p = new Float32Array(n);
      if (channels === 1) for (let i = 0; i < n; i++) p[i] = rgba[i * 4];
      else for (let i = 0; i < n; i++) {
        p[i] = (rgba[i * 4] * 19595 + rgba[i * 4 + 1] * 38470 + rgba[i * 4 + 2] * 7471 + 0x8000) >> 16;
      }
      return [p];
    }
    const r = new Float32Array(n), g = new Float32Array(n), b = new Float32Array(n);
    for (let i = 0; i < n; i++) { r[i] = rgba[i * 4]; g[i] = rgba[i * 4 + 1]; b[i] = rgba[i * 4 + 2]; }
    return [r, g, b];
  }

  // Python's "%.4g" and the lab's fmt(): how the server writes numbers.
  function strip(s) { return s.indexOf(".") >= 0 ? s.replace(/0+$/, "").replace(/\.$/, "") : s; }
  function g4(v) {
    if (v === 0) return "0";
    if (!isFinite(v)) return String(v);
    const [mant, ex] = v.toExponential(3).split("e");
    const e = Number(ex);
    if (e < -4 || e >= 4) {
      return strip(mant) + "e" + (e < 0 ? "-" : "+") + String(Math.abs(e)).padStart(2, "0");
    }
    return strip(v.toFixed(3 - e));
  }
  function fmt(v) {
    if (Number.isInteger(v) && Math.abs(v) < 1e12) return String(v);
    return Math.abs(v) < 1 ? g4(v) : strip(v.toFixed(2));
  }

  global.CnnpgLabEngine = {
    LabError: LabError, axis: axis, formula: formula, correlate: correlate, relu: relu, pool: pool, range: range,
    valueAt: valueAt, run: run, paletteWords: paletteWords, paint: paint, paintInput: paintInput, planesOf: planesOf,
    g4: g4, fmt: fmt,
  };
})(window);
