// Charts: every <canvas data-chart="ID"> is drawn from <script type="application/json" id="ID">
// (Django's json_script), shaped like
//   {"type": "line"|"bar", "labels": [...], "datasets": [{"label": "...", "data": [...]}],
//    "stacked": false, "horizontal": false, "percent": false}  (percent: a 0-100% value axis;
//   a dataset may name its "color")
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

  function config(spec) {
    var type = spec.type === "bar" ? "bar" : "line";
    var horizontal = !!spec.horizontal && type === "bar";
    var stacked = !!spec.stacked;
    var many = (spec.labels || []).length > 40;
    var datasets = (spec.datasets || []).map(function (ds, i) {
      var color = ds.color || PALETTE[i % PALETTE.length];
      var out = Object.assign({}, ds, { borderColor: color, backgroundColor: type === "bar" ? alpha(color, 0.85) : alpha(color, 0.12) });
      if (type === "line") {
        Object.assign(out, { borderWidth: 2, tension: 0.25, pointRadius: many ? 0 : 2.5, pointHoverRadius: 4, fill: stacked ? true : false });
      } else {
        Object.assign(out, { borderWidth: 0, borderRadius: 3, maxBarThickness: 48 });
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
        scales: horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis },
        plugins: {
          legend: { display: datasets.length > 1, position: "bottom", labels: { boxWidth: 10, boxHeight: 10, usePointStyle: true } },
          tooltip: {
            callbacks: {
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

  function render(root) {
    (root || document).querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.getAttribute("data-chart"));
      if (!source) return;
      var existing = Chart.getChart(canvas);
      if (existing) existing.destroy();
      try {
        new Chart(canvas, config(JSON.parse(source.textContent)));
      } catch (err) {
        console.error("chart " + canvas.getAttribute("data-chart") + ":", err);
      }
    });
  }

  window.PulseCharts = { render: render, config: config, palette: PALETTE };

  if (window.htmx) {
    htmx.onLoad(render); // the first page load, every swapped-in fragment, a history restore
    // Content leaving the page (a swap, a history restore): free its charts.
    document.addEventListener("htmx:beforeCleanupElement", function (event) {
      var chart = event.target.tagName === "CANVAS" ? Chart.getChart(event.target) : null;
      if (chart) chart.destroy();
    });
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { render(document); });
  } else {
    render(document);
  }
})();
