// Dashboards: the tile grid (gridstack, from npm) and each tile's error state.
//
// <div class="grid-stack" data-dashboard-grid [data-editable data-layout-url=URL data-csrf=TOKEN]>
//   .grid-stack-item[gs-id gs-x gs-y gs-w gs-h] > .dash-tile > header.dash-tile-head + [data-tile-body]
//
// * Members drag a tile by its title bar and resize it by its corner; when a move or resize
//   ends, every tile's {id, x, y, w, h} is POSTed to the layout API (JSON, CSRF token). A
//   refusal (400 naming the problem) is shown and the page reloaded to the saved layout.
// * Under 768 px of window, tiles stack in one column and nothing is dragged (nor saved).
// * Each insight tile loads on its own (hx-get on load). A tile whose server could not
//   compute it answers 503 with its own error and a Retry: it is swapped into that tile,
//   not reported for the whole page. A tile whose request fails otherwise (network, an
//   unexpected answer) gets the same state, made here.
(function () {
  "use strict";
  if (window.PulseDashboard) return; // loaded once per page
  var PHONE = 768;
  var CELL_HEIGHT = 70;

  function status(grid, text, level) {
    var box = grid.parentNode.querySelector("[data-layout-status]");
    if (!box) return;
    box.textContent = text;
    box.dataset.level = level || "";
  }

  function layoutOf(gs) {
    // save() leaves out the defaults (a width or height of 1).
    return gs.save(false).map(function (node) {
      return { id: Number(node.id), x: node.x || 0, y: node.y || 0, w: node.w || 1, h: node.h || 1 };
    }).sort(function (a, b) { return a.id - b.id; });
  }

  function saveLayout(el, gs) {
    var url = el.getAttribute("data-layout-url");
    if (!url || gs.getColumn() !== Number(el.dataset.columns || 12)) return; // never save the phone's one column
    var tiles = layoutOf(gs);
    status(el, "Saving the layout…", "busy");
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": el.getAttribute("data-csrf") || "" },
      body: JSON.stringify({ tiles: tiles }),
    }).then(function (response) {
      if (response.ok) {
        el.dataset.savedLayout = JSON.stringify(tiles);
        status(el, "Layout saved.", "ok");
        return;
      }
      return response.json().catch(function () { return {}; }).then(function (body) {
        status(el, "The layout was not saved: " + (body.message || "error " + response.status) + ". Reloading the saved layout…", "error");
        setTimeout(function () { location.reload(); }, 2500);
      });
    }, function () {
      status(el, "The layout was not saved: PulseBoard could not be reached. Move a tile again to retry.", "error");
    });
  }

  function phoneMode(el, gs) {
    var editable = el.hasAttribute("data-editable");
    var narrow = window.innerWidth < PHONE;
    gs.enableMove(editable && !narrow);
    gs.enableResize(editable && !narrow);
    el.classList.toggle("dash-grid-stacked", narrow);
  }

  function init(el) {
    if (el.gridstack || !window.GridStack) return;
    var editable = el.hasAttribute("data-editable");
    var gs = GridStack.init({
      column: Number(el.dataset.columns || 12),
      cellHeight: CELL_HEIGHT,
      margin: 6,
      float: false,
      animate: !window.matchMedia("(prefers-reduced-motion: reduce)").matches,
      staticGrid: !editable,
      handle: ".dash-tile-head",
      draggable: { cancel: "a, button, summary, input, select, textarea, .dropdown-menu" },
      resizable: { handles: "se" },
      columnOpts: { breakpointForWindow: true, breakpoints: [{ w: PHONE, c: 1 }], layout: "list" },
    }, el);
    el.dataset.savedLayout = JSON.stringify(layoutOf(gs));
    phoneMode(el, gs);
    var timer = null;
    gs.on("change", function () {
      // One save for a drag that moved several tiles; nothing when the layout is what was saved.
      clearTimeout(timer);
      timer = setTimeout(function () {
        if (JSON.stringify(layoutOf(gs)) !== el.dataset.savedLayout) saveLayout(el, gs);
      }, 250);
    });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () { if (el.isConnected && el.gridstack) phoneMode(el, gs); }, 120);
    });
  }

  function initAll(root) {
    (root || document).querySelectorAll("[data-dashboard-grid]").forEach(init);
    if (root && root.matches && root.matches("[data-dashboard-grid]")) init(root);
  }

  // --- Tile errors --------------------------------------------------------------------------

  function isTileBody(el) {
    return el && el.matches && el.matches("[data-tile-body]");
  }

  function failedState(body, message) {
    var url = body.getAttribute("hx-get");
    var box = document.createElement("div");
    box.className = "dash-tile-failed";
    box.setAttribute("role", "alert");
    box.setAttribute("data-tile-failed", "");
    var text = document.createElement("div");
    var title = document.createElement("p");
    title.className = "strong";
    title.textContent = "This tile could not be loaded";
    var detail = document.createElement("p");
    detail.className = "small muted";
    detail.textContent = message + " The other tiles are not affected.";
    var retry = document.createElement("button");
    retry.type = "button";
    retry.className = "btn btn-secondary btn-sm";
    retry.setAttribute("data-tile-retry", "");
    retry.textContent = "Retry";
    retry.addEventListener("click", function () {
      htmx.ajax("GET", url, { source: body, target: body, swap: "innerHTML" });
    });
    text.append(title, detail, retry);
    box.append(text);
    body.replaceChildren(box);
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!isTileBody(target) || event.detail.xhr.status < 500) return;
    if ((event.detail.serverResponse || "").indexOf("data-tile-failed") !== -1) {
      // The server's own error state for this tile: show it there, not as a page error.
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:responseError", function (event) {
    var target = event.detail.target;
    if (!isTileBody(target)) return;
    event.stopPropagation(); // the tile says it; no page-wide message
    var status = event.detail.xhr.status;
    failedState(target, status === 404 ? "The tile no longer exists: reload the page." : "The server answered with an error (" + status + ").");
  }, true);
  document.addEventListener("htmx:sendError", function (event) {
    var target = event.detail.target || event.detail.elt;
    if (!isTileBody(target)) return;
    event.stopPropagation();
    failedState(target, "PulseBoard could not be reached.");
  }, true);

  // Content leaving the page (the date controls swap the page body): free its grid.
  document.addEventListener("htmx:beforeCleanupElement", function (event) {
    var el = event.target;
    if (el.gridstack) el.gridstack.destroy(false);
  });

  window.PulseDashboard = { init: initAll };
  // A deferred script runs once the page is parsed: lay the grid out now, before the charts
  // are drawn (at DOMContentLoaded, charts.js) into the tiles' final sizes. htmx's first
  // load event comes a frame or more later; it finds the grid done.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { initAll(document); });
  } else {
    initAll(document);
  }
  if (window.htmx) htmx.onLoad(initAll); // swapped-in fragments, a history restore
})();
