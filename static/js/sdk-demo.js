// The SDK demo page (/demo/): buttons that call window.pulseboard, the ids the SDK keeps
// in localStorage, and a log of every batch it sent (its `pulseboard:send` events).
(function () {
  "use strict";

  var navigations = 0;

  function $(selector) { return document.querySelector(selector); }

  function showError(text) {
    var box = $("#demo-error");
    box.textContent = text || "";
    box.hidden = !text;
  }

  function parseObject(text, label) {
    if (!text.trim()) return {};
    var value;
    try { value = JSON.parse(text); } catch (e) { value = null; }
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      throw new Error(label + " must be a JSON object, like {\"plan\": \"pro\"}.");
    }
    return value;
  }

  function refreshState() {
    var session = {};
    try { session = JSON.parse(localStorage.getItem("pulseboard_session")) || {}; } catch (e) { session = {}; }
    var values = {
      anonymous_id: localStorage.getItem("pulseboard_anonymous_id"),
      user_id: localStorage.getItem("pulseboard_user_id"),
      session_id: session.id,
      last_activity: session.last ? new Date(session.last).toLocaleTimeString() : null,
      page: location.pathname + location.search,
    };
    document.querySelectorAll("[data-state]").forEach(function (el) {
      el.textContent = values[el.getAttribute("data-state")] || "—";
    });
  }

  function answer(detail) {
    var pill = document.createElement("span");
    var status = detail.status;
    if (status === null) { pill.className = "pill pill-accent"; pill.textContent = "sendBeacon"; }
    else if (status >= 200 && status < 300) { pill.className = "pill pill-success"; pill.textContent = status + " accepted"; }
    else {
      pill.className = "pill pill-danger";
      pill.textContent = (status ? String(status) : "network error") + (detail.attempt > 1 ? " · attempt " + detail.attempt : "");
    }
    return pill;
  }

  function cell(text, className) {
    var span = document.createElement("span");
    span.className = className || "";
    span.textContent = text;
    return span;
  }

  function row(event, detail) {
    var details = document.createElement("details");
    details.className = "event-row";
    var summary = document.createElement("summary");
    summary.append(
      cell(event.event, "event-name"),
      cell(event.user_id || event.anonymous_id),
      cell(event.page_url, "muted"),
      answer(detail)
    );
    var body = document.createElement("div");
    body.className = "event-detail";
    var list = document.createElement("dl");
    list.className = "kv";
    ["event_id", "timestamp", "anonymous_id", "user_id", "session_id", "referrer"].forEach(function (key) {
      if (!event[key]) return;
      var dt = document.createElement("dt");
      dt.textContent = key;
      var dd = document.createElement("dd");
      dd.textContent = event[key];
      list.append(dt, dd);
    });
    var pre = document.createElement("pre");
    pre.className = "code-block";
    pre.textContent = JSON.stringify(event.properties, null, 2);
    body.append(list, pre);
    details.append(summary, body);
    return details;
  }

  addEventListener("pulseboard:send", function (e) {
    var log = $("#demo-log");
    var empty = log.querySelector(".demo-empty");
    if (empty) empty.remove();
    var batch = document.createElement("div");
    batch.className = "demo-batch";
    batch.setAttribute("data-status", e.detail.status === null ? "beacon" : String(e.detail.status));
    var head = document.createElement("div");
    head.className = "demo-batch-head small muted";
    head.textContent = new Date().toLocaleTimeString() + " · " + e.detail.events.length + " event" + (e.detail.events.length === 1 ? "" : "s");
    batch.append(head);
    e.detail.events.forEach(function (event) { batch.append(row(event, e.detail)); });
    log.prepend(batch);
    refreshState();
  });

  document.addEventListener("submit", function (e) {
    var form = e.target.closest("form[data-demo]");
    if (!form) return;
    e.preventDefault();
    try {
      if (form.dataset.demo === "track") {
        window.pulseboard.track(form.elements.event.value, parseObject(form.elements.properties.value, "Properties"));
      } else {
        window.pulseboard.identify(form.elements.user_id.value, parseObject(form.elements.traits.value, "Traits"));
      }
      showError("");
    } catch (error) {
      showError(error.message);
    }
    refreshState();
  });

  document.addEventListener("click", function (e) {
    var button = e.target.closest("button[data-demo]");
    if (!button) return;
    var action = button.dataset.demo;
    if (action === "navigate") {
      var url = new URL(location.href);
      url.searchParams.set("page", String(++navigations));
      history.pushState({}, "", url);
    } else if (action === "reset") {
      window.pulseboard.reset();
    } else if (action === "flush") {
      window.pulseboard.flush();
    }
    refreshState();
  });

  addEventListener("storage", refreshState);
  document.addEventListener("DOMContentLoaded", refreshState);
})();
