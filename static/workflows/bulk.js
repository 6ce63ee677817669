/* Bulk selection in the console's lists (templates/workflows/partials/_bulk_bar.html).
 *
 * Rows carry <input type="checkbox" name="ids" form="FORM" data-bulk-pick>; the list's
 * form has the action menu and "select all N matching this filter". Lists refresh live
 * (htmx swaps them), so the selection lives here, per form: it is put back after every
 * swap, survives paging, and is posted as hidden ids for rows not on the page. "All
 * matching" is dropped when the filter changes (the form's data-filter).
 */
(function () {
  "use strict";

  var selections = {}; // form id -> {picked: {id: true}, all: bool, action: "", filter: ""}

  function stateOf(form) {
    var filter = form.getAttribute("data-filter") || "";
    var state = selections[form.id];
    if (!state || state.filter !== filter) {
      state = { picked: {}, all: false, action: "", filter: filter };
      selections[form.id] = state;
    }
    return state;
  }

  function picks(form) {
    return document.querySelectorAll('input[data-bulk-pick][form="' + form.id + '"]');
  }

  function count(state) {
    return Object.keys(state.picked).length;
  }

  function show(form) {
    var state = stateOf(form);
    var total = form.getAttribute("data-total") || "0";
    var label = form.querySelector("[data-bulk-count]");
    var button = form.querySelector("[data-bulk-go]");
    var n = count(state);
    if (label) {
      label.textContent = state.all
        ? "All " + total + " selected"
        : n ? n + " selected" : "None selected";
    }
    if (button) button.disabled = !state.all && n === 0;
    form.classList.toggle("active", state.all || n > 0);
    picks(form).forEach(function (box) {
      box.disabled = state.all; // "all matching" wins over single rows
    });
    var page = document.querySelector('input[data-bulk-page="' + form.id + '"]');
    if (page) {
      var boxes = Array.prototype.slice.call(picks(form));
      page.checked = state.all || (boxes.length > 0 && boxes.every(function (b) { return b.checked; }));
      page.disabled = state.all;
    }
  }

  function restore(form) {
    var state = stateOf(form);
    picks(form).forEach(function (box) {
      box.checked = !!state.picked[box.value];
    });
    var all = form.querySelector("[data-bulk-all]");
    if (all) all.checked = state.all;
    var action = form.querySelector("[data-bulk-action]");
    if (action && state.action) action.value = state.action;
    show(form);
  }

  function restoreAll() {
    document.querySelectorAll("form[data-bulk]").forEach(restore);
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    var form;
    if (target.hasAttribute("data-bulk-pick")) {
      form = document.getElementById(target.getAttribute("form"));
      if (!form) return;
      if (target.checked) stateOf(form).picked[target.value] = true;
      else delete stateOf(form).picked[target.value];
    } else if (target.hasAttribute("data-bulk-page")) {
      form = document.getElementById(target.getAttribute("data-bulk-page"));
      if (!form) return;
      picks(form).forEach(function (box) {
        box.checked = target.checked;
        if (target.checked) stateOf(form).picked[box.value] = true;
        else delete stateOf(form).picked[box.value];
      });
    } else if (target.hasAttribute("data-bulk-all")) {
      form = target.form;
      stateOf(form).all = target.checked;
    } else if (target.hasAttribute("data-bulk-action")) {
      form = target.form;
      stateOf(form).action = target.value;
    }
    if (form) show(form);
  });

  // Picks on other pages (or swapped out) go along as hidden inputs.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-bulk")) return;
    var state = stateOf(form);
    form.querySelectorAll("input[data-bulk-extra]").forEach(function (el) { el.remove(); });
    if (state.all) return;
    var onPage = {};
    picks(form).forEach(function (box) { if (box.checked) onPage[box.value] = true; });
    Object.keys(state.picked).forEach(function (id) {
      if (onPage[id]) return;
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "ids";
      input.value = id;
      input.setAttribute("data-bulk-extra", "");
      form.appendChild(input);
    });
  }, true);

  document.addEventListener("htmx:afterSettle", restoreAll);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", restoreAll);
  else restoreAll();
})();
