// Charts: every <canvas data-chart="ID"> is drawn from <script type="application/json" id="ID">
// (Django's json_script), shaped like
//   {"type": "line"|"bar", "labels": [...], "datasets": [{"label": "...", "data": [...]}],
//    "stacked": false, "horizontal": false, "percent": false}  (percent: a 0-100% value axis;
//   a dataset may name its "color")
// A time-series chart may also carry, from apps/analytics/annotations.py (chart_annotate):
//   "annotations": [{"index": 3, "label": "2026-11-23", "notes": [{"id", "text", "author", "at"}]}]
//     the project's notes, already placed on their bucket: a dashed line with a flag marks each
//     annotated bucket (chartjs-plugin-annotation), and the tooltip of that bucket lists them;
//   "partial_from": 29  (apps/query/charts.py) the first bucket that is not over yet: from it
//     on a line is dashed and bars are paler, and the tooltip says "so far";
//   "annotate": {"url": API, "list_url", "timezone", "starts": ["2026-11-23T00:00", ...]}
//     when <body data-can-edit="true"> (the user may add notes): a click on a bucket opens a small form prefilled with the
//     bucket's start, which POSTs to the API and then reloads the page body (HTMX), unless a
//     listener of the "pulse:annotation-saved" event (on the canvas) calls preventDefault().
// Put the canvas in a .chart-box (it has the height). Charts are redrawn after HTMX swaps.
(function () {
  "use strict";
  if (!window.Chart || window.PulseCharts) return; // needs Chart.js; loaded once per page

  var PALETTE = ["#4f46e5", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#ec4899", "#14b8a6", "#64748b", "#84cc16"];
  var REDUCED_MOTION = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var numbers = new Intl.NumberFormat();
  var compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

  Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily || "system-ui, sans-serif";
  Chart.defaults.font.size = 12;
  Chart.defaults.color = "#5b6475";
  Chart.defaults.borderColor = "#e8ebf2";

  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }

  var NOTE_COLOR = "#d97706";
  var TOOLTIP_WIDTH = 56; // characters of a note per tooltip line

  function wrap(text, width) {
    var lines = [], line = "";
    String(text).split(/\s+/).forEach(function (word) {
      while (word.length > width) { // a very long word: cut it
        if (line) { lines.push(line); line = ""; }
        lines.push(word.slice(0, width));
        word = word.slice(width);
      }
      if (line && (line + " " + word).length > width) { lines.push(line); line = word; }
      else line = line ? line + " " + word : word;
    });
    if (line) lines.push(line);
    return lines;
  }

  function notesByIndex(spec) {
    var byIndex = {};
    (spec.annotations || []).forEach(function (bucket) { byIndex[bucket.index] = bucket.notes || []; });
    return byIndex;
  }

  // chartjs-plugin-annotation: a dashed line and a flag at the bottom per annotated bucket.
  function markers(spec) {
    var out = {};
    (spec.annotations || []).forEach(function (bucket) {
      var count = (bucket.notes || []).length;
      if (!count) return;
      out["note-" + bucket.index] = {
        type: "line",
        scaleID: "x",
        value: bucket.index,
        borderColor: alpha(NOTE_COLOR, 0.9),
        borderWidth: 1.5,
        borderDash: [4, 3],
        drawTime: "afterDatasetsDraw",
        label: {
          display: true,
          content: count > 1 ? "\u2691 " + count : "\u2691",
          position: "end",
          backgroundColor: NOTE_COLOR,
          color: "#fff",
          font: { size: 11, weight: "600" },
          padding: { x: 4, y: 2 },
          borderRadius: 3,
        },
      };
    });
    return out;
  }

  // The page offers adding notes to those who may edit the project (base.html: nav.can_edit).
  function canAnnotate(spec) {
    return !!spec.annotate && document.body.getAttribute("data-can-edit") === "true";
  }

  function config(spec) {
    var type = spec.type === "bar" ? "bar" : "line";
    var horizontal = !!spec.horizontal && type === "bar";
    var stacked = !!spec.stacked;
    var many = (spec.labels || []).length > 40;
    var partial = horizontal || spec.partial_from == null ? null : spec.partial_from;
    function unfinished(index) { return partial !== null && index >= partial; }
    var datasets = (spec.datasets || []).map(function (ds, i) {
      var color = ds.color || PALETTE[i % PALETTE.length];
      var out = Object.assign({}, ds, { borderColor: color, backgroundColor: type === "bar" ? alpha(color, 0.85) : alpha(color, 0.12) });
      if (type === "line") {
        Object.assign(out, { borderWidth: 2, tension: 0.25, pointRadius: many ? 0 : 2.5, pointHoverRadius: 4, fill: stacked ? true : false });
        // The line into a bucket that is not over yet is dashed.
        if (partial !== null) out.segment = { borderDash: function (ctx) { return unfinished(ctx.p1DataIndex) ? [5, 4] : undefined; } };
      } else {
        Object.assign(out, { borderWidth: 0, borderRadius: 3, maxBarThickness: 48 });
        if (partial !== null) out.backgroundColor = function (ctx) { return alpha(color, unfinished(ctx.dataIndex) ? 0.4 : 0.85); };
      }
      return out;
    });
    var valueAxis = {
      beginAtZero: true,
      stacked: stacked,
      grid: { color: "#eef0f5" },
      border: { display: false },
      ticks: { precision: 0, callback: function (v) { return spec.percent ? v + "%" : Math.abs(v) >= 100000 ? compact.format(v) : numbers.format(v); } },
    };
    if (spec.percent) valueAxis.max = 100;
    var notes = notesByIndex(spec);
    var categoryAxis = {
      stacked: stacked,
      grid: { display: false },
      ticks: { autoSkip: true, maxRotation: 0, autoSkipPadding: 12 },
    };
    return {
      type: type,
      data: { labels: spec.labels || [], datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: REDUCED_MOTION ? false : { duration: 250 },
        indexAxis: horizontal ? "y" : "x",
        interaction: { mode: "index", intersect: false },
        onClick: canAnnotate(spec) && !horizontal ? function (event, elements, chart) { bucketClicked(spec, event, elements, chart); } : undefined,
        scales: horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis },
        plugins: {
          legend: { display: datasets.length > 1, position: "bottom", labels: { boxWidth: 10, boxHeight: 10, usePointStyle: true } },
          annotation: { annotations: horizontal ? {} : markers(spec) },
          tooltip: {
            footerFont: { weight: "normal" },
            callbacks: {
              title: function (items) {
                if (!items.length) return "";
                return items[0].label + (unfinished(items[0].dataIndex) ? " (so far)" : "");
              },
              // The notes of the hovered bucket, under its values.
              footer: function (items) {
                var list = items.length ? notes[items[0].dataIndex] : null;
                if (!list || !list.length) return [];
                var lines = [];
                list.forEach(function (note) {
                  wrap("\u2691 " + note.text, TOOLTIP_WIDTH).forEach(function (line) { lines.push(line); });
                  lines.push("   " + note.at + (note.author ? " \u00b7 " + note.author : ""));
                });
                return lines;
              },
              label: function (ctx) {
                var v = horizontal ? ctx.parsed.x : ctx.parsed.y;
                return " " + (ctx.dataset.label ? ctx.dataset.label + ": " : "") + (v == null ? "–" : numbers.format(v) + (spec.percent ? "%" : ""));
              },
            },
          },
        },
      },
    };
  }

  // --- Adding a note from a click on a bucket ----------------------------------------------

  function csrfToken() {
    try {
      var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      if (headers["X-CSRFToken"]) return headers["X-CSRFToken"];
    } catch (err) { /* fall back to the cookie */ }
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text != null) node.textContent = text;
    return node;
  }

  // One <dialog> per page, built on first use, and again when the one there has lost its
  // handlers (an HTMX history restore brings back the markup only) or a swap removed it.
  function dialog() {
    var box = document.getElementById("annotation-dialog");
    if (box && box._wired) return box;
    if (box) box.remove();
    box = el("dialog", { id: "annotation-dialog", class: "annotation-dialog", "aria-labelledby": "annotation-dialog-title" });
    var form = el("form", { class: "form-stack", method: "dialog", novalidate: "" });
    var at = el("div", { class: "field" });
    at.append(
      el("label", { for: "annotation-at" }, "When"),
      el("input", { type: "datetime-local", id: "annotation-at", name: "at", required: "" }),
      el("p", { class: "help", "data-timezone": "" }),
      el("p", { class: "field-error", "data-error": "at", hidden: "" })
    );
    var text = el("div", { class: "field" });
    text.append(
      el("label", { for: "annotation-text" }, "Note"),
      el("textarea", { id: "annotation-text", name: "text", rows: "3", maxlength: "400", required: "", placeholder: "e.g. New pricing page shipped" }),
      el("p", { class: "field-error", "data-error": "text", hidden: "" })
    );
    var actions = el("div", { class: "form-actions" });
    var buttons = el("span", { class: "btn-row" });
    buttons.append(el("button", { type: "button", class: "btn btn-ghost btn-sm", "data-cancel": "" }, "Cancel"), el("button", { type: "submit", class: "btn btn-primary btn-sm" }, "Add annotation"));
    actions.append(el("a", { class: "small", "data-list": "" }, "All annotations"), buttons);
    form.append(at, text, el("p", { class: "field-error", "data-error": "", role: "alert", hidden: "" }), actions);
    box.append(
      el("h2", { id: "annotation-dialog-title" }),
      el("p", { class: "muted small" }, "Shown on every chart of this project that covers this time."),
      el("ul", { class: "existing", "aria-label": "Notes already on this bucket", hidden: "" }),
      form
    );
    box.querySelector("[data-cancel]").addEventListener("click", function () { box.close(); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      save(box);
    });
    box._wired = true;
    document.body.append(box);
    return box;
  }

  function showErrors(box, problems) {
    box.querySelectorAll("[data-error]").forEach(function (p) { p.hidden = true; p.textContent = ""; });
    problems.forEach(function (problem) {
      var p = box.querySelector('[data-error="' + (problem.field === "at" || problem.field === "text" ? problem.field : "") + '"]');
      p.textContent = (p.textContent ? p.textContent + " " : "") + problem.message;
      p.hidden = false;
    });
  }

  function save(box) {
    var target = box._target;
    if (!target || box._busy) return;
    var submit = box.querySelector('button[type="submit"]');
    box._busy = submit.disabled = true;
    var body = { at: box.querySelector("#annotation-at").value, text: box.querySelector("#annotation-text").value };
    fetch(target.spec.annotate.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          showErrors(box, data.errors || [{ field: data.field, message: data.message || "Could not save the annotation (" + response.status + ")." }]);
          return;
        }
        box.close();
        saved(target.canvas, data);
      });
    }, function () {
      showErrors(box, [{ field: null, message: "Could not reach the server: check the connection and try again." }]);
    }).finally(function () { box._busy = submit.disabled = false; });
  }

  // After a save: the page body again from the server, where every chart places the new note.
  function saved(canvas, annotation) {
    var event = new CustomEvent("pulse:annotation-saved", { bubbles: true, cancelable: true, detail: { annotation: annotation } });
    if (!canvas.dispatchEvent(event)) return; // the page refreshes its own way
    var body = document.getElementById("page-body");
    if (window.htmx && body) htmx.ajax("GET", window.location.href, { target: body, swap: "innerHTML" });
    else window.location.reload();
  }

  function bucketClicked(spec, event, elements, chart) {
    var area = chart.chartArea;
    if (!area || event.x < area.left || event.x > area.right || event.y < area.top || event.y > area.bottom) return;
    var index = elements.length ? elements[0].index : Math.round(chart.scales.x.getValueForPixel(event.x));
    var starts = spec.annotate.starts || [];
    if (!(index >= 0 && index < starts.length)) return;
    var box = dialog();
    box._target = { spec: spec, canvas: chart.canvas, index: index };
    box.querySelector("h2").textContent = "Annotate " + (spec.labels[index] || starts[index].replace("T", " "));
    box.querySelector("[data-timezone]").textContent = "In the project's timezone, " + spec.annotate.timezone + ". Prefilled with the start of the bucket you clicked.";
    box.querySelector("[data-list]").setAttribute("href", spec.annotate.list_url);
    var existing = box.querySelector(".existing");
    existing.replaceChildren();
    (notesByIndex(spec)[index] || []).forEach(function (note) {
      existing.append(el("li", {}, note.at + " \u00b7 " + note.text + (note.author ? " (" + note.author + ")" : "")));
    });
    existing.hidden = !existing.children.length;
    box.querySelector("#annotation-at").value = starts[index];
    box.querySelector("#annotation-text").value = "";
    showErrors(box, []);
    box.showModal();
    box.querySelector("#annotation-text").focus();
  }

  function render(root) {
    (root || document).querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.getAttribute("data-chart"));
      if (!source) return;
      if (Chart.getChart(canvas)) return; // drawn already (the page's own charts, at DOMContentLoaded)
      try {
        var spec = JSON.parse(source.textContent);
        canvas.classList.toggle("annotatable", canAnnotate(spec));
        if (canAnnotate(spec)) canvas.title = "Click a bucket to annotate it";
        var options = config(spec);
        // A dashboard draws many charts at once: animating them all would hold up its first frames.
        if (canvas.closest("[data-dashboard-grid]")) options.options.animation = false;
        new Chart(canvas, options);
      } catch (err) {
        console.error("chart " + canvas.getAttribute("data-chart") + ":", err);
      }
    });
  }

  window.PulseCharts = { render: render, config: config, palette: PALETTE };

  // The page's own charts at DOMContentLoaded: after every deferred script (a dashboard's
  // grid is laid out by then), and without waiting for htmx's first load event, which it
  // fires from a timer a frame or more later.
  if (document.readyState === "complete") {
    render(document);
  } else {
    document.addEventListener("DOMContentLoaded", function () { render(document); });
  }
  if (window.htmx) {
    htmx.onLoad(render); // every swapped-in fragment, a history restore
    // Content leaving the page (a swap, a history restore): free its charts.
    document.addEventListener("htmx:beforeCleanupElement", function (event) {
      var chart = event.target.tagName === "CANVAS" ? Chart.getChart(event.target) : null;
      if (chart) chart.destroy();
    });
  }
})();
