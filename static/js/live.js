// The live feed (templates/analytics/partials/live_body.html): one WebSocket to the
// project's /ws/projects/<id>/live/. The server sends
//   {"type": "ready", "project_id": 1, "max_events": 100}         once the socket joined
//   {"type": "events", "total": N, "events": [{...}, ...]}         after each stored batch,
// the events newest first (at most max_events of them; total counts all). Rows go on top;
// the list keeps data-max-rows rows. Pause holds new rows back and counts them. A lost
// connection is retried with growing delays; 4401 and 4404 end it for good.
(function () {
  "use strict";
  if (window.PulseLive) return; // loaded once per page

  var CLOSED_FOR_GOOD = {
    4401: "Closed: you are logged out. Log in again to resume.",
    4404: "Closed: this project does not exist or you are not one of its members.",
  };
  var BACKOFF_MAX_SECONDS = 30;
  var SEEN_MAX = 5000; // event ids remembered to drop repeats (a redelivered batch)
  var numbers = new Intl.NumberFormat();

  function timeFormatter(timeZone) {
    var options = { timeZone: timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" };
    try {
      return new Intl.DateTimeFormat("en-CA", options);
    } catch (e) { // an unknown zone: show UTC rather than nothing
      options.timeZone = "UTC";
      return new Intl.DateTimeFormat("en-CA", options);
    }
  }

  function Feed(root) {
    this.root = root;
    this.path = root.getAttribute("data-socket-path");
    this.maxRows = parseInt(root.getAttribute("data-max-rows"), 10) || 500;
    this.explorerUrl = root.getAttribute("data-explorer-url");
    this.loginUrl = root.getAttribute("data-login-url");
    this.format = timeFormatter(root.getAttribute("data-timezone") || "UTC");
    this.el = {};
    var self = this;
    ["status", "status-text", "pause", "pause-label", "held-count", "filter", "rate", "received", "shown", "held",
     "held-text", "resume", "list", "rows", "nomatch", "foot", "empty"].forEach(function (name) {
      self.el[name] = root.querySelector("[data-live-" + name + "]");
    });
    this.socket = null;
    this.stopped = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.countdownTimer = null;
    this.wasLive = false;
    this.lostAt = null;
    this.paused = false;
    this.held = []; // events held back while paused, newest first, at most maxRows
    this.heldCount = 0; // everything that arrived while paused
    this.received = 0;
    this.perSecond = []; // [second, count] of the last minute
    this.seen = new Set();
    this.seenOrder = [];
    this.filter = (this.el.filter.value || "").trim().toLowerCase();

    this.el.pause.addEventListener("click", function () { self.setPaused(!self.paused); });
    this.el.resume.addEventListener("click", function () { self.setPaused(false); });
    this.el.filter.addEventListener("input", function () { self.setFilter(self.el.filter.value); });
    this.onOnline = function () { if (self.retryTimer) { self.retryNow(); } };
    window.addEventListener("online", this.onOnline);
    this.rateTimer = setInterval(function () { self.showRate(); }, 1000);
    this.refresh();
    this.connect();
  }

  Feed.prototype.setState = function (state, text, link) {
    this.el.status.setAttribute("data-state", state);
    var target = this.el["status-text"];
    target.textContent = text;
    if (link) {
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      target.append(" ", a);
    }
  };

  Feed.prototype.connect = function () {
    var self = this;
    this.retryTimer = null;
    this.setState(this.attempt ? "reconnecting" : "connecting", this.attempt ? "Reconnecting…" : "Connecting…");
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + this.path;
    var socket = new WebSocket(url);
    this.socket = socket;
    socket.onmessage = function (message) {
      if (socket !== self.socket) return;
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      if (data.type === "ready") self.onReady();
      else if (data.type === "events") self.onEvents(data);
    };
    socket.onclose = function (event) {
      if (socket !== self.socket || self.stopped) return;
      self.socket = null;
      self.onClose(event);
    };
  };

  Feed.prototype.onReady = function () {
    if (this.lostAt) this.insertNote(this.gapText(this.lostAt, new Date()), true);
    this.lostAt = null;
    this.attempt = 0;
    this.wasLive = true;
    this.setState("live", "Live");
  };

  Feed.prototype.onClose = function (event) {
    var forGood = CLOSED_FOR_GOOD[event.code];
    if (forGood) {
      this.stop();
      this.el.pause.disabled = true;
      var next = location.pathname + location.search;
      this.setState("closed", forGood, event.code === 4401 ? { href: this.loginUrl + "?next=" + encodeURIComponent(next), text: "Log in" } : null);
      return;
    }
    if (this.wasLive && !this.lostAt) this.lostAt = new Date();
    // 1, 2, 4 … 30 s, each ±25% so that many pages do not come back at the same instant.
    var base = Math.min(BACKOFF_MAX_SECONDS, Math.pow(2, this.attempt));
    var delay = Math.max(1, Math.round(base * (0.75 + Math.random() * 0.5)));
    this.attempt += 1;
    this.countdown(delay, event.code);
  };

  Feed.prototype.countdown = function (seconds, code) {
    var self = this;
    var left = seconds;
    var reason = code && code !== 1006 ? " (code " + code + ")" : "";
    function show() { self.setState("reconnecting", "Connection lost" + reason + ". Retrying in " + left + " s…"); }
    show();
    this.countdownTimer = setInterval(function () {
      left -= 1;
      if (left > 0) show();
    }, 1000);
    this.retryTimer = setTimeout(function () { self.retryNow(); }, seconds * 1000);
  };

  Feed.prototype.retryNow = function () {
    clearTimeout(this.retryTimer);
    clearInterval(this.countdownTimer);
    this.countdownTimer = null;
    if (!this.stopped) this.connect();
  };

  Feed.prototype.stop = function () {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.countdownTimer);
    clearInterval(this.rateTimer);
    window.removeEventListener("online", this.onOnline);
    if (this.socket) {
      var socket = this.socket;
      this.socket = null;
      socket.close(1000);
    }
  };

  Feed.prototype.onEvents = function (data) {
    var total = data.total || 0;
    this.received += total;
    this.el.received.textContent = numbers.format(this.received);
    var second = Math.floor(Date.now() / 1000);
    var last = this.perSecond[this.perSecond.length - 1];
    if (last && last[0] === second) last[1] += total; else this.perSecond.push([second, total]);
    this.showRate();

    var self = this;
    var fresh = (data.events || []).filter(function (e) { return self.remember(e.event_id); });
    var unsent = total - (data.events || []).length;
    if (this.paused) {
      this.held = fresh.concat(this.held).slice(0, this.maxRows);
      this.heldCount += total;
      this.showHeld();
      return;
    }
    this.insertRows(fresh, unsent);
  };

  Feed.prototype.remember = function (id) {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    this.seenOrder.push(id);
    if (this.seenOrder.length > SEEN_MAX) this.seen.delete(this.seenOrder.shift());
    return true;
  };

  Feed.prototype.showRate = function () {
    var cutoff = Math.floor(Date.now() / 1000) - 60;
    while (this.perSecond.length && this.perSecond[0][0] <= cutoff) this.perSecond.shift();
    var sum = this.perSecond.reduce(function (n, item) { return n + item[1]; }, 0);
    this.el.rate.textContent = numbers.format(sum);
  };

  Feed.prototype.timeText = function (iso) {
    var date = new Date(iso);
    if (isNaN(date)) return iso;
    var parts = {};
    this.format.formatToParts(date).forEach(function (p) { parts[p.type] = p.value; });
    var day = parts.year + "-" + parts.month + "-" + parts.day;
    var clock = parts.hour + ":" + parts.minute + ":" + parts.second;
    var today = {};
    this.format.formatToParts(new Date()).forEach(function (p) { today[p.type] = p.value; });
    return day === today.year + "-" + today.month + "-" + today.day ? clock : day + " " + clock;
  };

  Feed.prototype.explorerLink = function (param, value, className) {
    var a = document.createElement("a");
    a.className = className;
    a.href = this.explorerUrl + "?" + new URLSearchParams([[param, value]]).toString();
    a.textContent = value;
    a.title = value;
    return a;
  };

  Feed.prototype.row = function (e, isNew) {
    var row = document.createElement("div");
    row.className = "live-row" + (isNew ? " is-new" : "");
    row.setAttribute("data-event", e.event);
    row.setAttribute("data-event-id", e.event_id);
    var url = document.createElement("span");
    url.className = "event-url muted";
    url.textContent = e.page_url || "—";
    if (e.page_url) url.title = e.page_url;
    var time = document.createElement("time");
    time.dateTime = e.timestamp;
    time.textContent = this.timeText(e.timestamp);
    time.title = "Sent " + this.timeText(e.timestamp) + ", received " + this.timeText(e.received_at);
    row.append(this.explorerLink("event", e.event, "event-name"), this.explorerLink("distinct_id", e.distinct_id, "event-person"), url, time);
    row.hidden = !this.matches(e.event);
    return row;
  };

  Feed.prototype.note = function (text, link) {
    var note = document.createElement("div");
    note.className = "live-note";
    note.textContent = text;
    if (link) {
      var a = document.createElement("a");
      a.href = this.explorerUrl;
      a.textContent = "Open the Explorer";
      note.append(" ", a);
    }
    return note;
  };

  Feed.prototype.gapText = function (from, to) {
    return "Disconnected from " + this.timeText(from.toISOString()) + " to " + this.timeText(to.toISOString()) +
      ": events stored meanwhile are not in this list.";
  };

  Feed.prototype.insertNote = function (text, link) {
    if (!this.el.rows.children.length) return;
    this.el.rows.prepend(this.note(text, link));
  };

  // events: newest first. unsent: events of the same batches the server did not send.
  Feed.prototype.insertRows = function (events, unsent, isNew) {
    if (!events.length && !unsent) return;
    var fragment = document.createDocumentFragment();
    var self = this;
    events.forEach(function (e) { fragment.append(self.row(e, isNew !== false)); });
    if (unsent > 0) fragment.append(this.note("… and " + numbers.format(unsent) + " more events that arrived at the same time, not listed here.", true));
    this.el.rows.prepend(fragment);
    var rows = this.el.rows;
    while (rows.children.length > this.maxRows) rows.lastElementChild.remove();
    // A note left at the bottom refers to rows that are gone.
    while (rows.lastElementChild && rows.lastElementChild.classList.contains("live-note")) rows.lastElementChild.remove();
    this.refresh();
  };

  Feed.prototype.matches = function (name) {
    return !this.filter || name.toLowerCase().indexOf(this.filter) !== -1;
  };

  Feed.prototype.setFilter = function (value) {
    this.filter = value.trim().toLowerCase();
    var self = this;
    this.el.rows.querySelectorAll(".live-row").forEach(function (row) {
      row.hidden = !self.matches(row.getAttribute("data-event"));
    });
    // The filter is part of the page's address, so a filtered feed can be shared.
    var url = new URL(location.href);
    if (this.filter) url.searchParams.set("event", value.trim()); else url.searchParams.delete("event");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
    this.refresh();
  };

  Feed.prototype.setPaused = function (paused) {
    this.paused = paused;
    this.el.pause.setAttribute("aria-pressed", paused ? "true" : "false");
    this.el.pause.classList.toggle("is-paused", paused);
    this.el["pause-label"].textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      var held = this.held;
      var unsent = this.heldCount - held.length;
      this.held = [];
      this.heldCount = 0;
      this.insertRows(held, unsent);
    }
    this.showHeld();
  };

  Feed.prototype.showHeld = function () {
    var text = numbers.format(this.heldCount) + " new";
    this.el.held.hidden = !this.paused;
    this.el["held-text"].textContent = numbers.format(this.heldCount) + " new event" + (this.heldCount === 1 ? "" : "s");
    this.el["held-count"].hidden = !this.paused || !this.heldCount;
    this.el["held-count"].textContent = text;
  };

  Feed.prototype.refresh = function () {
    var rows = this.el.rows.querySelectorAll(".live-row");
    var shown = 0;
    rows.forEach(function (row) { if (!row.hidden) shown += 1; });
    this.el.shown.textContent = numbers.format(shown);
    var any = rows.length > 0;
    this.el.empty.hidden = any;
    this.el.list.hidden = !any;
    this.el.foot.hidden = !any;
    this.el.nomatch.hidden = !any || shown > 0;
    this.el.list.classList.toggle("is-filtered", !!this.filter);
  };

  function start(root) {
    if (!root || root.pulseLive) return;
    root.pulseLive = new Feed(root);
  }

  function scan(element) {
    var scope = element || document;
    if (scope.matches && scope.matches("[data-socket-path]")) start(scope);
    if (scope.querySelectorAll) scope.querySelectorAll("[data-socket-path]").forEach(start);
  }

  window.PulseLive = { start: start };

  if (window.htmx) {
    htmx.onLoad(scan); // the first page load, a swapped-in page body, a history restore
    // The feed leaving the page (a swap, a history restore): close its socket.
    document.addEventListener("htmx:beforeCleanupElement", function (event) {
      if (event.target.pulseLive) {
        event.target.pulseLive.stop();
        event.target.pulseLive = null;
      }
    });
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { scan(document); });
  } else {
    scan(document);
  }
})();
