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

  // A chart over a table's rows: each row with data-x is a point on the x axis, each
  // cell with data-key one series' value (data-value if given, else the cell's text).
  function tableChart(container) {
    var table = document.getElementById(container.dataset.table);
    if (!table || typeof echarts === "undefined") {
      return;
    }
    var keys = container.dataset.series.split(",");
    var names = (container.dataset.names || container.dataset.series).split("|");
    var type = container.dataset.type || "bar";
    var labels = [];
    var values = keys.map(function () { return []; });
    table.querySelectorAll("tbody tr[data-x]").forEach(function (row) {
      labels.push(row.dataset.x);
      keys.forEach(function (key, index) {
        var cell = row.querySelector('[data-key="' + key + '"]');
        var text = cell ? (cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent) : "";
        values[index].push(text === "" || text === "—" ? null : Number(text));
      });
    });
    if (labels.length === 0) {
      container.hidden = true;
      return;
    }
    var chart = echarts.init(container, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      legend: { top: 0 },
      grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: labels },
      yAxis: { type: "value", name: container.dataset.axis || "", min: 0 },
      series: keys.map(function (key, index) {
        return {
          name: names[index] || key,
          type: type === "stack" ? "bar" : type,
          stack: type === "stack" ? "all" : undefined,
          connectNulls: true,
          showSymbol: labels.length < 40,
          data: values[index],
        };
      }),
    });
    container.dataset.rendered = String(labels.length);
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-ratio-chart]").forEach(ratioChart);
    document.querySelectorAll("[data-chart]").forEach(tableChart);
  });
})();
