/* durableapp live updates: a websocket says "changed", htmx refreshes the page's parts.
 *
 * Parts that refresh carry `data-live` and `hx-trigger="live from:body, every Ns"`: the
 * push refreshes them at once, the polling keeps them right when no push arrives (another
 * process committed and the channel layer is in-memory, or the socket is down).
 */
(function () {
  "use strict";

  // -- messages: refusals (4xx with X-Durable-Message) are swapped into #flash ----------
  function isMessage(event) {
    var xhr = event.detail && event.detail.xhr;
    return xhr && xhr.status >= 400 && xhr.getResponseHeader("X-Durable-Message");
  }
  // With DEBUG on, django-htmx's helper shows 400/403/404 answers as a whole page (to
  // show Django's error page). Ours are messages: keep them from reaching it. This
  // capture listener on window runs first; htmx itself goes on with the swap.
  window.addEventListener("htmx:beforeOnLoad", function (event) {
    if (isMessage(event)) event.stopPropagation();
  }, true);
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (isMessage(event)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.target.closest && event.target.closest("form");
    if (form) form.querySelectorAll(".field-errors").forEach(function (el) { el.innerHTML = ""; });
  });
  document.addEventListener("click", function (event) {
    var close = event.target.closest(".msg-close");
    if (close) close.closest(".msg").remove();
  });

  // -- a refresh keeps what the user is typing and which details are open -------------
  var kept = null;
  function isRefresh(event) {
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    return elt && elt.hasAttribute && elt.hasAttribute("data-live");
  }

  // -- an action sent during a refresh is not lost -----------------------------------
  // Actions queue behind a running refresh (hx-sync "queue last": aborting it would log
  // errors). htmx drops a queued request whose element left the page, so the refresh
  // must not redraw the part holding the action: while one is on its way, refreshes
  // are not swapped in (the action's own answer redraws the part).
  var acting = 0;
  function insideLive(elt) {
    return elt && elt.closest && !elt.hasAttribute("data-live") && elt.closest("[data-live]");
  }
  document.addEventListener("htmx:confirm", function (event) {
    if (insideLive(event.detail.elt)) acting = Date.now();
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    // By now the answer may have replaced the element: any request that is not a
    // refresh ends the wait.
    var elt = event.detail.elt;
    if (!(elt && elt.hasAttribute && elt.hasAttribute("data-live"))) acting = 0;
  });

  // -- nor while a click is under way -----------------------------------------------
  // A click is a press and a release on one element: a refresh swapped in between (every
  // few seconds, and at each push) replaced the link under the pointer and the click was
  // lost (a CI run's operator clicked a console row and stayed on the console). While a
  // press is down (at most 2 s: a drag or a held button does not stop refreshes), a
  // refresh is not swapped in; the next one is.
  var pressed = 0;
  document.addEventListener("pointerdown", function () { pressed = Date.now(); }, true);
  ["click", "pointercancel", "dragstart"].forEach(function (type) {
    document.addEventListener(type, function () { pressed = 0; }, true);
  });

  function recent(stamp, ms) { return stamp && Date.now() - stamp < ms; }
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (isRefresh(event) && (recent(acting, 15000) || recent(pressed, 2000))) {
      event.detail.shouldSwap = false;
    }
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    kept = null;
    if (!isRefresh(event) || !event.detail.shouldSwap) return;
    kept = { values: {}, open: {}, focus: null, caret: null };
    target.querySelectorAll("[data-keep]").forEach(function (el) {
      var key = el.getAttribute("data-keep");
      if (el.tagName === "DETAILS") kept.open[key] = el.open;
      else kept.values[key] = el.value;
    });
    // A refusal shown next to its field stays until the person acts again.
    kept.errors = {};
    target.querySelectorAll(".field-errors[id]").forEach(function (el) {
      if (el.innerHTML.trim()) kept.errors[el.id] = el.innerHTML;
    });
    var active = document.activeElement;
    if (active && target.contains(active) && active.hasAttribute("data-keep")) {
      kept.focus = active.getAttribute("data-keep");
      try { kept.caret = [active.selectionStart, active.selectionEnd]; } catch (e) { /* no caret */ }
    }
  });
  // Put back right after the swap, in the same task as the swap itself: nothing the
  // person does can land in between, and a second refresh captures what was put back.
  // (Put back at settling, ~20 ms later and more on a busy machine, a click in that gap
  // sent the emptied field: a reason typed before a refresh went out blank, the reject
  // was refused; and two refreshes before the first settled showed server defaults.)
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!kept) return;
    var state = kept;
    kept = null;
    var root = event.detail.target && event.detail.target.isConnected ? event.detail.target : document;
    Object.keys(state.errors || {}).forEach(function (id) {
      var el = document.getElementById(id);
      if (el && !el.innerHTML.trim()) el.innerHTML = state.errors[id];
    });
    root.querySelectorAll("[data-keep]").forEach(function (el) {
      var key = el.getAttribute("data-keep");
      if (el.tagName === "DETAILS") {
        if (key in state.open) el.open = state.open[key];
      } else if (key in state.values && state.values[key]) {
        el.value = state.values[key];
      }
      if (state.focus === key) {
        el.focus();
        if (state.caret) { try { el.setSelectionRange(state.caret[0], state.caret[1]); } catch (e) { /* no caret */ } }
      }
    });
  });

  // -- tables read as stacked cards on phones: each cell carries its column's name --------
  function labelCells(root) {
    (root || document).querySelectorAll(".table-wrap table").forEach(function (table) {
      var heads = [].map.call(table.querySelectorAll("thead th"), function (th) {
        return th.textContent.trim();
      });
      table.querySelectorAll("tbody tr:not(.decide-row)").forEach(function (row) {
        [].forEach.call(row.children, function (cell, i) {
          if (heads[i] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", heads[i]);
        });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { labelCells(document); });
  // The whole page: an outerHTML swap's target is the element it replaced (detached).
  document.addEventListener("htmx:afterSettle", function () { labelCells(document); });

  // -- copy buttons: the whole id, however it is wrapped or cut on screen --------------
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
      button.setAttribute("data-copied", "");
      setTimeout(function () { button.removeAttribute("data-copied"); }, 1500);
    }, function () { /* no permission: the id stays selectable by hand */ });
  });

  // -- the websocket ---------------------------------------------------------------------
  var path = document.body.getAttribute("data-live-url");
  if (!path || !window.WebSocket) return;
  var indicator = document.getElementById("live-state");
  var delay = 1000;
  var pending = null;
  var last = 0;

  function show(on) {
    document.body.setAttribute("data-socket", on ? "open" : "closed");
    if (!indicator) return;
    indicator.setAttribute("data-state", on ? "on" : "off");
    indicator.textContent = on ? "Live" : "Polling";
    indicator.title = on
      ? "Live: changes appear as they happen"
      : "Live updates are off: the page refreshes every few seconds";
  }

  function refresh() {
    // At most one refresh a second, however many changes arrive.
    if (pending) return;
    var wait = Math.max(150, 1000 - (Date.now() - last));
    pending = setTimeout(function () {
      pending = null;
      last = Date.now();
      if (window.htmx) window.htmx.trigger(document.body, "live");
    }, wait);
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + path);
    socket.onopen = function () {
      show(true);
      delay = 1000;
      refresh(); // catch up on what changed since the page was drawn (or while offline)
    };
    socket.onmessage = refresh;
    socket.onclose = function () {
      show(false);
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  connect();
})();
