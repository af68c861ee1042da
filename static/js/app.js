// PulseBoard page behaviour: small, delegated handlers that keep working after HTMX swaps.
(function () {
  "use strict";
  if (window.PulseApp) return; // loaded once per page
  window.PulseApp = true;

  function flash(level, text) {
    var box = document.getElementById("messages");
    if (!box) return;
    var alert = document.createElement("div");
    alert.className = "alert alert-" + level;
    alert.setAttribute("role", level === "error" ? "alert" : "status");
    var span = document.createElement("span");
    span.className = "alert-text";
    span.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "alert-close";
    close.setAttribute("data-dismiss", "");
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u00d7";
    alert.append(span, close);
    box.append(alert);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http on another host has no clipboard API: copy through a hidden textarea.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.append(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      area.remove();
      ok ? resolve() : reject(new Error("copy failed"));
    });
  }

  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      if (!source) return;
      var original = copy.innerHTML;
      copyText(source.textContent.trim()).then(function () {
        copy.textContent = "Copied!";
        copy.classList.add("copied");
      }, function () {
        copy.textContent = "Select and copy";
        window.getSelection().selectAllChildren(source);
      }).finally(function () {
        setTimeout(function () { copy.innerHTML = original; copy.classList.remove("copied"); }, 1600);
      });
      return;
    }
    var dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) {
      var alert = dismiss.closest(".alert");
      if (alert) alert.remove();
      return;
    }
    // Close open dropdowns when clicking elsewhere.
    document.querySelectorAll("details.dropdown[open]").forEach(function (details) {
      if (!details.contains(event.target)) details.removeAttribute("open");
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.dropdown[open]").forEach(function (details) {
      details.removeAttribute("open");
      var summary = details.querySelector("summary");
      if (summary) summary.focus();
    });
  });

  // A select with data-resubmit (the interval of the date controls) re-submits its form
  // through the active preset button, so the preset is kept; else through "Apply".
  document.addEventListener("change", function (event) {
    var select = event.target.closest("[data-resubmit]");
    if (!select || !select.form) return;
    var form = select.form;
    var button = form.querySelector(".segmented .active") || form.querySelector("[data-custom-apply]");
    form.dataset.keepInterval = "1";
    if (button) button.click(); else form.requestSubmit();
  });

  // Custom range: each date bounds the other as it is changed, not only as the page was
  // loaded (else moving both dates past the old ones is refused).
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("form.date-controls input[type=date]")) return;
    var from = input.form.elements.date_from, to = input.form.elements.date_to;
    if (input === from && to && to.hasAttribute("min")) to.min = from.value;
    if (input === to && from && from.hasAttribute("max")) from.max = to.value;
  });

  // Date controls: a preset button sends only the preset (its own dates and, unless the
  // interval select was just changed, its own default interval), so the URL stays clean.
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt;
    if (!form.matches || !form.matches("form.date-controls")) return;
    var params = event.detail.parameters;
    if (params.preset) {
      delete params.date_from;
      delete params.date_to;
      if (form.dataset.keepInterval !== "1") delete params.interval;
    }
    delete form.dataset.keepInterval;
  });

  // The session ended: an HTMX request was redirected to the login page. Go there with the
  // whole page (and come back to it) instead of swapping a login form into a section.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var url = event.detail.xhr.responseURL || "";
    if (url && new URL(url, location.href).pathname === "/login/" && location.pathname !== "/login/") {
      event.detail.shouldSwap = false;
      location.href = "/login/?next=" + encodeURIComponent(location.pathname + location.search);
    }
  });

  // HTMX does not swap error responses: say what happened instead of doing nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 403) flash("error", "You are not allowed to do that. Ask one of the project's owners.");
    else if (status === 404) flash("error", "That no longer exists. Reload the page to see the current state.");
    else flash("error", "Something went wrong (error " + status + "). Please try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    flash("error", "Could not reach PulseBoard. Check your connection and try again.");
  });
})();
