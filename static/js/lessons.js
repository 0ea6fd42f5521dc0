// Lessons: one step at a time (the step is in the URL: #step-…), the 5×5 walk-through
// cell by cell, and the learner's own best accuracy beside the lesson's. Progress: for a
// browser with an owner token (a class's learner, or anyone who has trained) the server
// keeps it and renders it into the page (data-progress="server"): a right answer is
// recorded by the check itself, a step read is sent when the learner moves on, and the
// Train step is done once their model has trained. Otherwise it stays in this browser
// (localStorage), which is also the cache. Without script every step simply shows.
(function () {
  "use strict";
  const PREFIX = "cnnpg.lesson.";

  function load(id) {
    try {
      const raw = window.localStorage.getItem(PREFIX + id);
      const data = raw ? JSON.parse(raw) : null;
      if (data && Array.isArray(data.done)) return data;
    } catch (e) { /* storage off or corrupt: start afresh */ }
    return { done: [], at: null };
  }

  function save(id, state) {
    try { window.localStorage.setItem(PREFIX + id, JSON.stringify(state)); } catch (e) { /* private mode */ }
  }

  // ------------------------------------------------------------------ the lessons list
  const fromServer = document.querySelector('.lesson-cards[data-progress="server"]');
  if (!fromServer) document.querySelectorAll("[data-progress-for]").forEach(function (el) {
    const state = load(el.dataset.progressFor);
    const total = Number(el.dataset.steps);
    if (state.done.length) el.textContent = "Your progress: " + Math.min(state.done.length, total) + " of " + total + " steps done";
  });

  // ------------------------------------------------------------------ a lesson
  const lesson = document.querySelector(".lesson[data-lesson]");
  if (!lesson) return;
  const id = lesson.dataset.lesson;
  const ids = lesson.dataset.stepIds.split(" ");
  const server = lesson.dataset.progress === "server";
  let state = load(id);
  if (server) {  // the server is the source; this browser's copy only a cache
    state.done = lesson.dataset.done ? lesson.dataset.done.split(" ") : [];
    save(id, state);
  }
  lesson.classList.add("stepper");

  function post(path, fields) {
    return fetch("/lessons/" + encodeURIComponent(id) + path, {
      method: "POST", body: new URLSearchParams(fields || {}),
      headers: { Accept: "application/json" }
    }).then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; });  // offline: this browser still shows it
  }

  function adopt(progress) {  // what the server says is done, plus what this page just saw
    if (!progress) return;
    progress.done.forEach(function (s) { if (state.done.indexOf(s) < 0) state.done.push(s); });
    save(id, state);
    render();
  }

  function stepFromHash() {
    const h = window.location.hash.replace(/^#step-/, "");
    return ids.indexOf(h) >= 0 ? h : null;
  }

  function render() {
    const done = new Set(state.done);
    const bar = lesson.querySelector(".lesson-progress");
    const n = ids.filter(function (s) { return done.has(s); }).length;
    bar.value = n;
    bar.textContent = n;
    lesson.querySelector(".lesson-progress-text").textContent = n + " of " + ids.length + " steps done";
    ids.forEach(function (s) {
      const item = lesson.querySelector('[data-step-item="' + s + '"]');
      item.classList.toggle("done", done.has(s));
      item.querySelector(".done-mark").textContent = done.has(s) ? " ✓" : "";
      const section = document.getElementById("step-" + s);
      section.querySelector(".step-done").hidden = !done.has(s);
    });
  }

  function show(stepId, focus) {
    ids.forEach(function (s) {
      const section = document.getElementById("step-" + s);
      const current = s === stepId;
      section.classList.toggle("current", current);
      const link = lesson.querySelector('[data-step-item="' + s + '"] a');
      if (current) link.setAttribute("aria-current", "step"); else link.removeAttribute("aria-current");
    });
    state.at = stepId;
    save(id, state);
    if (focus) {
      const heading = document.getElementById("title-" + stepId);
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
      window.scrollTo({ top: lesson.offsetTop - 8 });
    }
  }

  function markDone(stepId) {
    if (state.done.indexOf(stepId) < 0) state.done.push(stepId);
    save(id, state);
    render();
  }

  // A step to read is done once the learner moves on from it (an exercise's step when
  // the answer is right, the Train step when the model has trained: not by moving on).
  lesson.addEventListener("click", function (e) {
    const next = e.target.closest(".step-next");
    if (next) {
      const section = next.closest(".step");
      if (section.dataset.doneBy === "reading") {
        markDone(section.dataset.step);
        if (server) post("/progress", { step: section.dataset.step }).then(adopt);
      }
    }
    if (e.target.closest(".lesson-reset")) {
      state = { done: [], at: ids[0] };
      save(id, state);
      lesson.querySelectorAll(".verdict").forEach(function (v) { v.textContent = ""; });
      render();
      if (server) post("/progress/reset").then(adopt);
      window.location.hash = "#step-" + ids[0];
    }
  });

  // An exercise step is done when the server says the answer is right.
  document.body.addEventListener("htmx:afterSwap", function (e) {
    const target = e.detail.target;
    if (target.classList.contains("verdict")) {
      const box = target.querySelector("[data-correct]");
      if (box && box.dataset.correct === "true") markDone(target.closest(".step").dataset.step);
    }
    if (target.classList.contains("lesson-lab-results")) syncLabLink(target.closest(".lesson-lab"));
  });

  window.addEventListener("hashchange", function () {
    const s = stepFromHash();
    if (s) show(s, true);
  });

  // ------------------------------------------------------------------ embedded Kernel Lab
  function syncLabLink(form) {
    const params = new URLSearchParams();
    new FormData(form).forEach(function (v, k) { params.append(k, v); });
    form.querySelector(".open-lab").setAttribute("href", "/kernel-lab?" + params.toString());
  }

  function setAndRun(form, field, value) {
    const input = form.querySelector('input[name="' + field + '"]');
    if (!input) return;
    input.value = value;
    htmx.trigger(form, "change");
  }

  function walk(form, delta) {
    const out = form.querySelector(".lab-output[data-shapes]");
    if (!out) return;
    const shape = JSON.parse(out.dataset.shapes).feature_map;
    const [r, c] = form.querySelector('input[name="cell"]').value.split(",").map(Number);
    const total = shape[0] * shape[1];
    const i = ((r * shape[1] + c + delta) % total + total) % total;
    setAndRun(form, "cell", Math.floor(i / shape[1]) + "," + (i % shape[1]));
  }

  lesson.addEventListener("click", function (e) {
    const form = e.target.closest(".lesson-lab");
    if (!form) return;
    if (e.target.closest(".cell-next")) walk(form, 1);
    else if (e.target.closest(".cell-prev")) walk(form, -1);
    const td = e.target.closest("td[data-field]");
    if (td) setAndRun(form, td.dataset.field, td.dataset.cell);
  });
  lesson.addEventListener("keydown", function (e) {
    const td = e.target.closest && e.target.closest(".lesson-lab td[data-field]");
    if (td && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      setAndRun(td.closest(".lesson-lab"), td.dataset.field, td.dataset.cell);
    }
  });
  lesson.addEventListener("change", function (e) {
    const form = e.target.closest && e.target.closest(".lesson-lab");
    if (form) syncLabLink(form);
  });

  // ------------------------------------------------------------------ your best accuracy
  function pct(x) { return (x * 100).toFixed(2) + "%"; }

  function showJobs(jobs) {
    lesson.querySelectorAll(".train-step").forEach(function (box) {
      const preset = box.dataset.preset;
      const mine = jobs.filter(function (j) {
        return j.yours && j.dataset === box.dataset.dataset &&
          (j.name === preset || (j.architecture && j.architecture.name === preset));
      });
      const finished = mine.filter(function (j) { return j.status === "succeeded" && j.result; });
      const best = finished.reduce(function (a, j) {
        return a === null || j.result.test_accuracy > a.result.test_accuracy ? j : a;
      }, null);
      box.querySelector(".yours").textContent = best
        ? pct(best.result.test_accuracy) + " test accuracy (" + best.training.epochs + " epochs, " +
          (best.training.train_samples || "all") + " images)"
        : (mine.length ? "training…" : "no finished job yet");
      // The model has trained: that is what the Train step asks (the server counts it too).
      if (best) markDone(box.closest(".step").dataset.step);
      const list = box.querySelector(".your-jobs");
      list.textContent = "";
      mine.slice(0, 5).forEach(function (j) {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = "/jobs/" + j.id;
        a.textContent = j.name;
        li.appendChild(a);
        li.appendChild(document.createTextNode(" · " + j.status +
          (j.result ? " · " + pct(j.result.test_accuracy) : "")));
        list.appendChild(li);
      });
    });
  }

  if (lesson.querySelector(".train-step")) {
    fetch("/api/jobs", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(showJobs)
      .catch(function () { /* offline: the lesson's figure stays on its own */ });
  }

  render();
  show(stepFromHash() || (ids.indexOf(state.at) >= 0 ? state.at : ids[0]), false);
})();
