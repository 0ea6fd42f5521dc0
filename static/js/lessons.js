// Lessons: one step at a time (the step is in the URL: #step-…), progress remembered in
// this browser (localStorage), the 5×5 walk-through cell by cell, and the learner's own
// best accuracy beside the lesson's. Without script every step simply shows, in order.
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
  document.querySelectorAll("[data-progress-for]").forEach(function (el) {
    const state = load(el.dataset.progressFor);
    const total = Number(el.dataset.steps);
    if (state.done.length) el.textContent = "Your progress: " + Math.min(state.done.length, total) + " of " + total + " steps done";
  });

  // ------------------------------------------------------------------ a lesson
  const lesson = document.querySelector(".lesson[data-lesson]");
  if (!lesson) return;
  const id = lesson.dataset.lesson;
  const ids = lesson.dataset.stepIds.split(" ");
  let state = load(id);
  lesson.classList.add("stepper");

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

  // A step without an exercise is done once the learner moves on from it.
  lesson.addEventListener("click", function (e) {
    const next = e.target.closest(".step-next");
    if (next) {
      const section = next.closest(".step");
      if (!section.querySelector(".exercise")) markDone(section.dataset.step);
    }
    if (e.target.closest(".lesson-reset")) {
      state = { done: [], at: ids[0] };
      save(id, state);
      lesson.querySelectorAll(".verdict").forEach(function (v) { v.textContent = ""; });
      render();
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
