// Consultation counts: each chart draws the rows of the table beside it (the table is the
// chart's table view and the download's content), so the chart shows the table's figures.
(function () {
  "use strict";

  function countChart(container) {
    var table = document.getElementById(container.dataset.table);
    if (!table || typeof echarts === "undefined") {
      return;
    }
    var labels = [];
    var values = [];
    table.querySelectorAll("tbody tr[data-value]").forEach(function (row) {
      labels.push(row.dataset.label);
      values.push(Number(row.dataset.value));
    });
    if (labels.length === 0) {
      container.hidden = true;
      return;
    }
    var percent = container.hasAttribute("data-percent");
    container.classList.add("chart-tall-" + Math.min(4, Math.ceil(labels.length / 6)));
    var chart = echarts.init(container, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      grid: { left: 8, right: 48, top: 24, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value", name: container.dataset.axis, min: 0, max: percent ? 100 : null },
      yAxis: { type: "category", data: labels, inverse: true },
      series: [{
        type: "bar",
        data: values,
        label: { show: true, position: "right", formatter: percent ? "{c}%" : "{c}" },
      }],
    });
    container.dataset.rendered = String(labels.length);
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-count-chart]").forEach(countChart);
  });
})();
