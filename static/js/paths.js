// Paths as a Sankey diagram (chartjs-chart-sankey): every <canvas data-sankey="ID"> is drawn
// from <script type="application/json" id="ID"> (apps/web/paths.py, sankey_spec), shaped like
//   {"flows": [{"from": KEY, "to": KEY, "flow": sessions}], "labels": {KEY: name},
//    "columns": {KEY: column from 0}, "sessions": {KEY: sessions at the node}}
// A node is the same colour in every column, so a page is easy to follow across steps.
// Drawn on the first load and after every HTMX swap.
(function () {
  "use strict";
  if (!window.Chart || !window.PulseCharts || window.PulsePaths) return;

  var numbers = new Intl.NumberFormat();
  var MAX_LABEL = 28; // characters of a node's name drawn beside it; the tooltip has it whole

  function colorOf(spec, palette) {
    var names = {};
    Object.keys(spec.labels).forEach(function (key) { names[spec.labels[key]] = true; });
    var index = {};
    Object.keys(names).sort().forEach(function (name, i) { index[name] = palette[i % palette.length]; });
    return function (key) { return index[spec.labels[key]] || palette[0]; };
  }

  function short(name) {
    return name.length > MAX_LABEL ? name.slice(0, MAX_LABEL - 1) + "\u2026" : name;
  }

  function config(spec) {
    var color = colorOf(spec, window.PulseCharts.palette);
    var labels = {};
    Object.keys(spec.labels).forEach(function (key) { labels[key] = short(spec.labels[key]); });
    return {
      type: "sankey",
      data: {
        datasets: [{
          data: spec.flows,
          labels: labels,
          column: spec.columns,
          colorFrom: function (ctx) { return color(ctx.dataset.data[ctx.dataIndex].from); },
          colorTo: function (ctx) { return color(ctx.dataset.data[ctx.dataIndex].to); },
          colorMode: "gradient",
          alpha: 0.45,
          size: "max",
          nodeWidth: 8,
          nodePadding: 14,
          borderWidth: 0,
          color: "#1f2937",
          font: { size: 12 },
        }],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        layout: { padding: { right: 8 } },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: function () { return ""; },
              label: function (ctx) {
                var flow = ctx.dataset.data[ctx.dataIndex];
                var from = spec.labels[flow.from], to = spec.labels[flow.to];
                var share = spec.sessions[flow.from] ? Math.round(flow.flow / spec.sessions[flow.from] * 1000) / 10 : 0;
                return from + " \u2192 " + to + ": " + numbers.format(flow.flow) + " sessions (" + share + "%)";
              },
            },
          },
        },
      },
    };
  }

  function render(root) {
    (root || document).querySelectorAll("canvas[data-sankey]").forEach(function (canvas) {
      var source = document.getElementById(canvas.getAttribute("data-sankey"));
      if (!source) return;
      var existing = Chart.getChart(canvas);
      if (existing) existing.destroy();
      try {
        new Chart(canvas, config(JSON.parse(source.textContent)));
      } catch (err) {
        console.error("paths " + canvas.getAttribute("data-sankey") + ":", err);
      }
    });
  }

  window.PulsePaths = { render: render };
  if (window.htmx) htmx.onLoad(render);
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { render(document); });
  else render(document);
})();
