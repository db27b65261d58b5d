// The dashboard's own script (no inline scripts: the pages' Content-Security-Policy allows none).
// - Sends the CSRF token with every htmx request.
// - Draws each [data-chart] with uPlot, again whenever htmx swaps in new figures.
(function () {
  "use strict";
  var COLORS = { delivered: "#1a7f37", sent: "#0a58ca", queued: "#9a6700", failed: "#b42318" };

  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { event.detail.headers["X-CSRF-Token"] = meta.content; }
  });

  function draw(root) {
    if (typeof uPlot === "undefined") { return; }
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      var chart = JSON.parse(el.getAttribute("data-chart"));
      var names = Object.keys(chart.series);
      var data = [chart.at].concat(names.map(function (n) { return chart.series[n]; }));
      var series = [{}].concat(names.map(function (n) {
        return { label: n, stroke: COLORS[n] || "#555", width: 2 };
      }));
      el.innerHTML = "";
      new uPlot({ width: Math.min(el.clientWidth || 900, 1100), height: 220, series: series }, data, el);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (event) { draw(event.target); });
})();

// Contacts: a form with data-confirm asks first; a form with data-progress="ID" shows that element
// (a "working" status) and disables its buttons while it is sent (the CSV import, answered when done).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) { return; }
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    var progress = form.getAttribute("data-progress");
    if (progress) {
      var status = document.getElementById(progress);
      if (status) { status.hidden = false; }
      window.setTimeout(function () {  // after the browser has taken the form's values
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    }
  });
})();
