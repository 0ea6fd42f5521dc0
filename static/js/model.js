// A model's page: the curves of the job that trained it, and copy buttons for the snippets.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("model-curves");
    if (box) {
      window.Curves.draw([{ label: box.dataset.name, colour: "#2454c5", valColour: "#d6604d",
        batches: Number(box.dataset.batches || 0), steps: window.Curves.parse(box.dataset.steps, []),
        history: window.Curves.parse(box.dataset.history, []) }]);
    }
    document.querySelectorAll("button.copy").forEach(button => {
      button.addEventListener("click", () => {
        const text = document.getElementById(button.dataset.copy).textContent;
        const msg = document.getElementById("copy-msg");
        const done = () => { msg.textContent = "Copied."; };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, () => { msg.textContent = "Select the text and copy it."; });
        } else {
          const range = document.createRange();
          range.selectNodeContents(document.getElementById(button.dataset.copy));
          const sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
          msg.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
        }
      });
    });
  });
})();
