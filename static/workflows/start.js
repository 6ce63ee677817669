/* The Start page: the chosen workflow's description, its example input pre-filled (unless
 * the person typed their own), its versions in the picker, and the JSON checked as it is
 * typed. The server checks it all again: this only says it sooner.
 */
(function () {
  "use strict";

  function catalogue() {
    var el = document.getElementById("start-catalogue");
    try { return el ? JSON.parse(el.textContent) : {}; } catch (e) { return {}; }
  }

  function check(input, note) {
    var text = input.value.trim();
    if (!text) {
      note.textContent = "Empty: the input is null.";
      note.className = "help json-check";
      input.removeAttribute("aria-invalid");
      return;
    }
    try {
      JSON.parse(text);
      note.textContent = "Valid JSON.";
      note.className = "help json-check ok";
      input.removeAttribute("aria-invalid");
    } catch (e) {
      note.textContent = "Not valid JSON yet: " + e.message;
      note.className = "help json-check bad";
      input.setAttribute("aria-invalid", "true");
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var known = catalogue();
    var name = document.getElementById("id_name");
    var input = document.getElementById("id_input");
    var version = document.getElementById("id_version");
    var about = document.getElementById("workflow-description");
    var note = document.getElementById("input-check");
    if (!name || !input) return;
    var filled = input.value; // what the page (or we) put there: replaced on a new choice

    function choose(initial) {
      var entry = known[name.value] || {};
      if (about) about.textContent = entry.description || "";
      if (!initial && (input.value.trim() === "" || input.value === filled)) {
        input.value = entry.example || "";
        filled = input.value;
      }
      if (version) {
        var allowed = (entry.versions || []).map(String);
        [].forEach.call(version.options, function (option) {
          option.hidden = option.value !== "" && allowed.indexOf(option.value) < 0;
        });
        if (version.selectedOptions[0] && version.selectedOptions[0].hidden) version.value = "";
      }
      if (note) check(input, note);
    }

    name.addEventListener("change", function () { choose(false); });
    input.addEventListener("input", function () { if (note) check(input, note); });
    choose(true);
  });
})();
