/* The instance page's history: every event, a compact view (a step's scheduled row folded
 * into its completion, which carries the duration) or a waterfall; filters by event kind
 * and name; event JSON copied or downloaded. The choices are form controls with
 * data-keep, so live.js keeps them across refreshes; this applies them again after.
 */
(function () {
  "use strict";

  function apply() {
    var section = document.getElementById("history");
    if (!section) return;
    var view = (document.getElementById("history-view") || {}).value || "list";
    var kind = (document.getElementById("history-kind") || {}).value || "";
    var name = ((document.getElementById("history-name") || {}).value || "").trim().toLowerCase();
    section.setAttribute("data-view", view);
    var shown = 0;
    var total = 0;
    section.querySelectorAll(".timeline > li, .waterfall > .wf-row").forEach(function (row) {
      var isEvent = row.tagName === "LI";
      var ok = (!kind || !isEvent || row.getAttribute("data-kind") === kind) &&
        (!name || (row.getAttribute("data-name") || "").toLowerCase().indexOf(name) >= 0) &&
        !(isEvent && view === "compact" && row.hasAttribute("data-folds"));
      row.hidden = !ok;
      if (isEvent) {
        total += 1;
        if (ok) shown += 1;
      }
    });
    var note = document.getElementById("history-shown");
    if (note) note.textContent = view === "waterfall" ? "" : shown + " of " + total + " events";
  }

  function download(text, filename) {
    var url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    var link = document.createElement("a");
    link.href = url;
    link.download = filename;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  document.addEventListener("input", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-history-control")) apply();
  });
  document.addEventListener("change", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-history-control")) apply();
  });
  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy-from]");
    if (copy && navigator.clipboard) {
      var source = document.querySelector(copy.getAttribute("data-copy-from"));
      navigator.clipboard.writeText(source ? source.textContent : "").then(function () {
        copy.setAttribute("data-copied", "");
        setTimeout(function () { copy.removeAttribute("data-copied"); }, 1500);
      }, function () { /* no permission: the JSON stays selectable by hand */ });
    }
    var save = event.target.closest("[data-download-from]");
    if (save) {
      var from = document.querySelector(save.getAttribute("data-download-from"));
      download(from ? from.textContent : "", save.getAttribute("data-filename") || "event.json");
    }
  });
  document.addEventListener("DOMContentLoaded", apply);
  // After the swap, not the settle: live.js restores the controls in its afterSwap
  // handler (it loads first, so runs first), and until the settle 20 ms later the new rows
  // would show unfolded and unfiltered.
  document.addEventListener("htmx:afterSwap", apply);
})();
