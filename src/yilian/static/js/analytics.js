// Analytics pages: each chart draws the rows of the table beside it (the table is the chart's
// table view and the CSV's content), so the figures on the chart are the figures in the table.
(function () {
  "use strict";

  function ratioChart(container) {
    var table = document.getElementById(container.dataset.table);
    if (!table || typeof echarts === "undefined") {
      return;
    }
    var labels = [];
    var ratios = [];
    table.querySelectorAll("tbody tr[data-ratio]").forEach(function (row) {
      labels.push(row.dataset.label);
      ratios.push(Number(row.dataset.ratio));
    });
    if (labels.length === 0) {
      container.hidden = true;
      return;
    }
    container.classList.add("chart-tall-" + Math.min(4, Math.ceil(labels.length / 6)));
    var chart = echarts.init(container, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      grid: { left: 8, right: 48, top: 24, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value", name: container.dataset.axis, min: 0 },
      yAxis: { type: "category", data: labels, inverse: true },
      series: [{
        type: "bar",
        data: ratios,
        label: { show: true, position: "right", formatter: "{c}×" },
        markLine: {
          silent: true, symbol: "none",
          data: [{ xAxis: 1, name: container.dataset.baseline }],
          label: { formatter: container.dataset.baseline, position: "insideEndTop" },
        },
      }],
    });
    container.dataset.rendered = String(labels.length);
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-ratio-chart]").forEach(ratioChart);
  });
})();
