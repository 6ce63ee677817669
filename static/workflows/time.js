/* durableapp times: every <time data-when> in the browser's own time zone, labelled
 * ("2026-12-06 17:43:38 CET"), or in UTC when the person chose so (the top bar's toggle,
 * kept in localStorage). Styles: relative ("3 min ago", absolute on hover), absolute
 * (relative on hover) and clock (a history row's "17:43:38.120"). The server renders the
 * same texts in UTC, so without this script the page still reads right.
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

  function render(root) {
    var tz = zone();
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
  document.addEventListener("DOMContentLoaded", function () { render(document); });
  document.addEventListener("htmx:afterSettle", function (event) { render(event.detail.target); });
  window.durableTimes = render;
})();
