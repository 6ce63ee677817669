/* durableapp times: every <time data-when> in the browser's own time zone, labelled
 * ("2026-12-06 17:43:38 CET"), or in UTC when the person chose so (the top bar's toggle,
 * kept in localStorage). Styles: relative ("3 min ago", absolute on hover), absolute
 * (relative on hover) and clock (a history row's "17:43:38.120"). The server renders the
 * same texts in UTC, so without this script the page still reads right.
 *
 * Time inputs marked data-zoned (the console's time ranges) follow the same zone: the
 * server renders their values in UTC without an offset, this script shows them in the
 * chosen zone, relabels [data-zone-label], and sends what is typed with the zone's offset
 * ("2026-12-06T09:30-05:00"); a value without an offset means UTC to the server.
 */
(function () {
  "use strict";
  var KEY = "durable-time-zone";

  function zone() {
    var chosen = null;
    try { chosen = window.localStorage.getItem(KEY); } catch (e) { /* private mode */ }
    return chosen === "UTC" ? "UTC" : undefined; // undefined: the browser's own zone
  }

  function parts(date, tz, withMs) {
    var options = {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
    };
    if (withMs) options.fractionalSecondDigits = 3;
    var out = {};
    new Intl.DateTimeFormat("en-GB", options).formatToParts(date).forEach(function (p) {
      out[p.type] = p.value;
    });
    return out;
  }

  function absolute(date, tz) {
    var p = parts(date, tz, false);
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" +
      p.second + " " + p.timeZoneName;
  }

  function clock(date, tz) {
    var p = parts(date, tz, true);
    return p.hour + ":" + p.minute + ":" + p.second + "." + p.fractionalSecond;
  }

  function relative(date) {
    var s = Math.max(0, (Date.now() - date.getTime()) / 1000);
    var text;
    if (s < 1) text = Math.round(s * 1000) + " ms";
    else if (s < 10) text = s.toFixed(1) + " s";
    else if (s < 60) text = Math.floor(s) + " s";
    else if (s < 3600) text = Math.floor(s / 60) + " min";
    else if (s < 86400) text = Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    else text = Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
    return text + " ago";
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // "2026-12-06T09:30[:15]" read as a wall clock time in tz, or null.
  function wallToDate(wall, tz) {
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/.exec(wall);
    if (!m) return null;
    var a = [+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)];
    var date = tz === "UTC" ? new Date(Date.UTC(a[0], a[1], a[2], a[3], a[4], a[5]))
      : new Date(a[0], a[1], a[2], a[3], a[4], a[5]);
    return isNaN(date.getTime()) ? null : date;
  }

  function dateToWall(date, tz) {
    var p = parts(date, tz, false);
    var text = p.year + "-" + p.month + "-" + p.day + "T" + p.hour + ":" + p.minute;
    return p.second === "00" ? text : text + ":" + p.second;
  }

  function offset(date, tz) {
    var minutes = tz === "UTC" ? 0 : -date.getTimezoneOffset();
    var sign = minutes < 0 ? "-" : "+";
    minutes = Math.abs(minutes);
    return sign + pad(Math.floor(minutes / 60)) + ":" + pad(minutes % 60);
  }

  // Each input remembers the zone its value is in (a property, not an attribute: the
  // value attribute stays the server's UTC, also in htmx's history snapshots).
  function zoneInputs(root, tz, label) {
    root.querySelectorAll("input[data-zoned]").forEach(function (el) {
      var from = el.durableZone || "UTC";
      var date = el.value && from !== (tz || "local") ? wallToDate(el.value, from) : null;
      if (date) el.value = dateToWall(date, tz);
      el.durableZone = tz || "local";
    });
    root.querySelectorAll("[data-zone-label]").forEach(function (el) {
      el.textContent = label;
    });
  }

  function render(root) {
    var tz = zone();
    zoneInputs(root || document, tz, parts(new Date(), tz, false).timeZoneName);
    (root || document).querySelectorAll("time[data-when]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      var style = el.getAttribute("data-when");
      var abs = absolute(date, tz);
      if (style === "absolute") {
        el.textContent = abs;
        el.title = relative(date);
      } else if (style === "clock") {
        el.textContent = clock(date, tz);
        el.title = abs;
      } else {
        el.textContent = relative(date);
        el.title = abs;
      }
    });
    var toggle = document.getElementById("time-zone");
    if (toggle) {
      var label = parts(new Date(), tz, false).timeZoneName;
      toggle.textContent = tz === "UTC" ? "UTC" : "Local time (" + label + ")";
      toggle.setAttribute("data-zone", tz === "UTC" ? "utc" : "local");
      toggle.title = tz === "UTC"
        ? "Times are in UTC. Click for your own time zone."
        : "Times are in your time zone (" + Intl.DateTimeFormat().resolvedOptions().timeZone +
          "). Click for UTC.";
    }
  }

  document.addEventListener("click", function (event) {
    if (!event.target.closest("#time-zone")) return;
    try {
      window.localStorage.setItem(KEY, zone() === "UTC" ? "local" : "UTC");
    } catch (e) { /* private mode: the toggle holds for this page only */ }
    render(document);
  });
  // A request sends each zoned input's typed time with its zone's offset (the save-view
  // form includes the filters, so a saved view keeps what the list was asked for).
  document.addEventListener("htmx:configRequest", function (event) {
    var data = event.detail.formData;
    document.querySelectorAll("input[data-zoned]").forEach(function (el) {
      var value = el.name && data.get(el.name);
      var tz = el.durableZone === "local" ? undefined : "UTC";
      var date = value ? wallToDate(value, tz) : null;
      if (date) data.set(el.name, dateToWall(date, tz) + offset(date, tz));
    });
  });
  document.addEventListener("DOMContentLoaded", function () { render(document); });
  document.addEventListener("htmx:historyRestore", function () { render(document); });
  document.addEventListener("htmx:afterSettle", function (event) { render(event.detail.target); });
  window.durableTimes = render;
})();
