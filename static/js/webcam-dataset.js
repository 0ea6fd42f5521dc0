// The webcam dataset page: classes, frames captured while a button is held, frames deleted
// by a click, and a save that zips the frames (one folder per class, fflate) and uploads the
// zip exactly as the Datasets page uploads one: /datasets/upload, then its progress.
(function () {
  "use strict";
  const SIDE = 96;            // captured frames: the centre square, at 96×96
  const INTERVAL_MS = 100;    // 10 frames a second while a button is held
  const root = document.getElementById("webcam");
  if (!root) return;
  const video = document.getElementById("camera");
  const status = document.getElementById("camera-status");
  const classesBox = document.getElementById("classes");
  const problem = document.getElementById("save-problem");
  const minPerClass = Number(root.dataset.minPerClass) || 3;
  const maxImages = Number(root.dataset.maxImages) || 10000;
  const maxClasses = Number(root.dataset.maxClasses) || 100;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = SIDE;
  const ctx = canvas.getContext("2d");
  const classes = [];  // {id, box, nameInput, count, frames: [{blob, url, el}]}
  let nextId = 1;
  let stream = null;

  function totalFrames() {
    return classes.reduce((n, c) => n + c.frames.length, 0);
  }

  async function startCamera() {
    if (stream) return true;
    try {
      stream = await navigator.mediaDevices.getUserMedia({video: {width: 320, height: 240}, audio: false});
    } catch (err) {
      status.textContent = "The camera could not be started: " + err.message;
      return false;
    }
    video.srcObject = stream;
    await video.play().catch(() => {});
    status.textContent = "Camera on.";
    root.dataset.camera = "on";
    return true;
  }

  function grab(cls) {
    if (!stream || video.readyState < 2 || totalFrames() >= maxImages) return;
    const w = video.videoWidth, h = video.videoHeight, s = Math.min(w, h);
    ctx.drawImage(video, (w - s) / 2, (h - s) / 2, s, s, 0, 0, SIDE, SIDE);
    cls.pending += 1;
    canvas.toBlob((blob) => {
      cls.pending -= 1;
      if (!blob || !classes.includes(cls)) return;
      addFrame(cls, blob);
    }, "image/jpeg", 0.92);
  }

  function addFrame(cls, blob) {
    const url = URL.createObjectURL(blob);
    const frame = {blob: blob, url: url, el: null};
    const button = document.createElement("button");
    button.type = "button";
    button.className = "frame";
    button.title = "Delete this frame";
    const img = document.createElement("img");
    img.src = url;
    img.alt = "";
    img.width = 48;
    img.height = 48;
    button.appendChild(img);
    button.setAttribute("aria-label", "Delete frame " + (cls.frames.length + 1) + " of " + (cls.nameInput.value || "this class"));
    button.addEventListener("click", () => {
      const i = cls.frames.indexOf(frame);
      if (i >= 0) cls.frames.splice(i, 1);
      URL.revokeObjectURL(url);
      button.remove();
      update(cls);
    });
    frame.el = button;
    cls.frames.push(frame);
    cls.strip.appendChild(button);
    update(cls);
  }

  function update(cls) {
    cls.count.textContent = cls.frames.length + (cls.frames.length === 1 ? " frame" : " frames");
    cls.box.dataset.frames = String(cls.frames.length);
  }

  function holdToCapture(button, cls) {
    let timer = null;
    async function start(ev) {
      if (timer) return;
      ev.preventDefault();
      if (ev.pointerId !== undefined && button.setPointerCapture) button.setPointerCapture(ev.pointerId);
      if (!(await startCamera())) return;
      button.classList.add("capturing");
      grab(cls);
      timer = setInterval(() => grab(cls), INTERVAL_MS);
    }
    function stop() {
      if (timer) clearInterval(timer);
      timer = null;
      button.classList.remove("capturing");
    }
    button.addEventListener("pointerdown", start);
    button.addEventListener("pointerup", stop);
    button.addEventListener("pointercancel", stop);
    button.addEventListener("lostpointercapture", stop);
    button.addEventListener("keydown", (ev) => {
      if ((ev.key === " " || ev.key === "Enter") && !ev.repeat) start(ev);
      else if (ev.key === " " || ev.key === "Enter") ev.preventDefault();
    });
    button.addEventListener("keyup", (ev) => { if (ev.key === " " || ev.key === "Enter") stop(); });
    button.addEventListener("blur", stop);
  }

  function addClass(name) {
    if (classes.length >= maxClasses) return;
    const id = nextId++;
    const box = document.createElement("div");
    box.className = "webcam-class";
    box.dataset.classId = String(id);
    const head = document.createElement("div");
    head.className = "webcam-class-head";
    const label = document.createElement("label");
    label.textContent = "Class ";
    const nameInput = document.createElement("input");
    nameInput.name = "class-" + id;
    nameInput.className = "class-name-input";
    nameInput.maxLength = 64;
    nameInput.value = name;
    label.appendChild(nameInput);
    const hold = document.createElement("button");
    hold.type = "button";
    hold.className = "hold";
    hold.textContent = "Hold to capture";
    const count = document.createElement("span");
    count.className = "frame-count muted";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove-class";
    remove.textContent = "Remove class";
    const strip = document.createElement("div");
    strip.className = "frame-strip";
    head.append(label, hold, count, remove);
    box.append(head, strip);
    classesBox.appendChild(box);
    const cls = {id: id, box: box, nameInput: nameInput, count: count, strip: strip, frames: [], pending: 0};
    classes.push(cls);
    holdToCapture(hold, cls);
    remove.addEventListener("click", () => {
      cls.frames.forEach((f) => URL.revokeObjectURL(f.url));
      classes.splice(classes.indexOf(cls), 1);
      box.remove();
    });
    update(cls);
  }

  function folderName(name) {
    return name.trim().replace(/[\\/:\u0000-\u001f]/g, "-");
  }

  function check() {
    if (classes.length < 2) return "Add at least two classes.";
    const seen = new Set();
    for (const c of classes) {
      const name = folderName(c.nameInput.value);
      if (!name) return "Every class needs a name.";
      if (seen.has(name.toLowerCase())) return "Two classes are named " + name + ": names must differ (not only in case).";
      seen.add(name.toLowerCase());
      if (c.frames.length < minPerClass) return name + " has " + c.frames.length + " frames; each class needs at least " + minPerClass + ".";
      if (c.pending) return "Still capturing: try again in a moment.";
    }
    return "";
  }

  async function save(ev) {
    ev.preventDefault();
    const why = check();
    problem.textContent = why;
    if (why) return;
    const form = ev.target;
    const files = {};
    for (const c of classes) {
      const folder = folderName(c.nameInput.value);
      let i = 0;
      for (const f of c.frames) {
        i += 1;
        files[folder + "/" + String(i).padStart(4, "0") + ".jpg"] = new Uint8Array(await f.blob.arrayBuffer());
      }
    }
    // JPEG frames are already compressed: stored, not deflated again.
    const zip = window.fflate.zipSync(files, {level: 0});
    const data = new FormData(form);
    data.append("fit", "crop");
    data.append("on_bad_file", "refuse");
    data.append("source", "webcam");
    data.append("file", new Blob([zip], {type: "application/zip"}), "webcam.zip");
    const button = document.getElementById("save-dataset");
    button.disabled = true;
    problem.textContent = "Uploading " + totalFrames() + " frames…";
    const target = document.getElementById("save-status");
    try {
      // As the page's own htmx request: refusals come back as the message to show (200).
      const response = await fetch("/datasets/upload", {method: "POST", body: data, headers: {"HX-Request": "true"}});
      target.innerHTML = await response.text();
      window.htmx.process(target);
      problem.textContent = "";
    } catch (err) {
      problem.textContent = "The upload failed: " + err.message;
    } finally {
      button.disabled = false;
    }
  }

  document.getElementById("start-camera").addEventListener("click", startCamera);
  document.getElementById("add-class").addEventListener("click", () => addClass("class " + (classes.length + 1)));
  document.getElementById("save-form").addEventListener("submit", save);
  addClass("class 1");
  addClass("class 2");
})();
