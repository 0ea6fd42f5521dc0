// A job's page: the panel arrives by server-sent events (htmx's SSE extension swaps it in);
// after each swap the curves are redrawn from its data, and new timelapse frames are
// fetched. The replay: an epoch slider (and play) over the first layer's kernels and the
// probe's feature maps; ?epoch=N in the URL opens it at that epoch.
(function () {
  "use strict";
  const FINISHED = ["succeeded", "failed", "cancelled"];
  const frames = [];
  let following = true; // show each new frame as it arrives until the learner picks one
  let fetching = false;
  let playing = null;
  const wanted = new URLSearchParams(location.search).get("epoch");
  if (wanted !== null) following = false;

  function panel() { return document.getElementById("job-panel"); }

  function redraw() {
    const p = panel();
    if (!p) return;
    const d = p.dataset;
    window.Curves.draw([{
      label: d.name || "job", colour: "#2454c5", valColour: "#d6604d",
      batches: Number(d.batches || 0), steps: window.Curves.parse(d.steps, []),
      history: window.Curves.parse(d.history, []),
    }]);
    if (FINISHED.includes(d.status)) {
      const cancel = document.getElementById("job-cancel");
      if (cancel) cancel.hidden = true;
    }
    const count = Number(d.frames || 0);
    if (count > frames.length || (FINISHED.includes(d.status) && !frames.length && d.started === "true")) {
      loadFrames();
    }
  }

  function loadFrames() {
    const replay = document.getElementById("replay");
    if (!replay || fetching) return;
    fetching = true;
    fetch("/api/jobs/" + replay.dataset.job + "/timelapse?from_epoch=" + frames.length)
      .then(r => (r.ok ? r.json() : null))
      .then(lapse => {
        fetching = false;
        if (!lapse) return;
        if (lapse.probe) showProbe(lapse.probe);
        for (const f of lapse.frames) if (f.epoch === frames.length) frames.push(f);
        const slider = document.getElementById("epoch-slider");
        slider.max = String(Math.max(0, frames.length - 1));
        slider.disabled = frames.length < 2;
        document.getElementById("replay-play").disabled = frames.length < 2;
        document.getElementById("replay").dataset.frames = String(frames.length);
        if (!frames.length) return;
        document.getElementById("replay-empty").hidden = true;
        let epoch = following ? frames.length - 1 : Number(slider.value);
        if (wanted !== null && !slider.dataset.restored && Number(wanted) < frames.length) {
          epoch = Number(wanted);
          slider.dataset.restored = "true";
        }
        show(epoch);
      })
      .catch(() => { fetching = false; });
  }

  function showProbe(probe) {
    const img = document.getElementById("probe-img");
    if (img && !img.src) img.src = probe.image;
    const cap = document.getElementById("probe-caption");
    if (cap) cap.textContent = "test image " + probe.index + (probe.label !== null ? ", a " + (cap.dataset.classes ? JSON.parse(cap.dataset.classes)[probe.label] : probe.label) : "");
  }

  function tiles(id, urls, label) {
    const box = document.getElementById(id);
    const imgs = box.querySelectorAll("img");
    if (imgs.length !== urls.length) {
      box.replaceChildren(...urls.map((u, i) => {
        const img = document.createElement("img");
        img.alt = label + " " + i;
        img.title = label + " " + i;
        return img;
      }));
    }
    box.querySelectorAll("img").forEach((img, i) => { img.src = urls[i]; });
  }

  function show(epoch) {
    const f = frames[epoch];
    if (!f) return;
    const slider = document.getElementById("epoch-slider");
    slider.value = String(epoch);
    document.getElementById("epoch-out").textContent = epoch === 0 ? "0 (before training)" : String(epoch);
    document.getElementById("replay-acc").textContent = f.val_accuracy === null ? "" :
      "validation accuracy " + (f.val_accuracy * 100).toFixed(2) + "%";
    tiles("replay-kernels", f.kernels, "kernel");
    tiles("replay-maps", f.maps, "feature map");
    document.getElementById("replay-no-conv").hidden = f.kernels.length > 0;
    document.getElementById("replay").dataset.epoch = String(epoch);
  }

  function remember(epoch) {
    const url = new URL(location.href);
    url.searchParams.set("epoch", String(epoch));
    history.replaceState(null, "", url);
  }

  function stop() {
    if (playing) clearInterval(playing);
    playing = null;
    const b = document.getElementById("replay-play");
    if (b) b.textContent = "▶ Play";
  }

  function play() {
    if (playing) { stop(); return; }
    following = false;
    const slider = document.getElementById("epoch-slider");
    let epoch = Number(slider.value) >= frames.length - 1 ? 0 : Number(slider.value);
    show(epoch);
    document.getElementById("replay-play").textContent = "❚❚ Pause";
    playing = setInterval(() => {
      epoch += 1;
      if (epoch >= frames.length) { stop(); remember(frames.length - 1); return; }
      show(epoch);
      remember(epoch);
    }, 700);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const slider = document.getElementById("epoch-slider");
    if (slider) {
      slider.addEventListener("input", () => {
        stop();
        following = Number(slider.value) === frames.length - 1;
        show(Number(slider.value));
        remember(Number(slider.value));
      });
      document.getElementById("replay-play").addEventListener("click", play);
    }
    redraw();
  });
  document.addEventListener("htmx:afterSettle", redraw);
})();
