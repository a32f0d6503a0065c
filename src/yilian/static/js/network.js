// The agreement network page. The graph draws the two tables under it (institutions and
// agreements) and the bar chart the programme table, so every figure drawn is a figure in a
// table, in the file downloads and in the API.
(function () {
  "use strict";

  // Edge colours come from the legend's swatches (network.css), so legend and lines agree.
  function typeColours(legend) {
    var colours = {};
    if (legend) {
      legend.querySelectorAll("li[data-type] .swatch").forEach(function (swatch) {
        colours[swatch.parentElement.dataset.type] = getComputedStyle(swatch).backgroundColor;
      });
    }
    return colours;
  }

  function html(text) {
    return echarts.format.encodeHTML(String(text === undefined ? "" : text));
  }

  function readNodes(table) {
    var nodes = [];
    table.querySelectorAll("tbody tr[data-node]").forEach(function (row) {
      nodes.push({
        id: row.dataset.node, name: row.dataset.name, code: row.dataset.code,
        beds: Number(row.dataset.beds), level: Number(row.dataset.level),
        province: row.dataset.province, provinceLabel: row.dataset.provinceLabel,
        kind: row.dataset.kind, kindLabel: row.dataset.kindLabel,
        agreements: Number(row.dataset.agreements)
      });
    });
    return nodes;
  }

  function readEdges(table) {
    var edges = [];
    table.querySelectorAll("tbody tr[data-agreement]").forEach(function (row) {
      edges.push({
        source: row.dataset.lead, target: row.dataset.member, code: row.dataset.agreement,
        type: row.dataset.type, typeLabel: row.dataset.typeLabel, title: row.dataset.title,
        statusLabel: row.dataset.statusLabel, start: row.dataset.start, end: row.dataset.end
      });
    });
    return edges;
  }

  function nodeSize(node) {
    // Area grows with beds; level-1 and unbedded institutions still show as a dot.
    return Math.max(8, Math.min(48, 6 + Math.sqrt(node.beds) * 0.8 + node.level * 2));
  }

  function graphOption(nodes, edges, colourBy, words, colours) {
    var groups = [];
    var groupIndex = {};
    nodes.forEach(function (node) {
      var key = colourBy === "kind" ? node.kind : node.province;
      if (!(key in groupIndex)) {
        groupIndex[key] = groups.length;
        groups.push({ name: colourBy === "kind" ? node.kindLabel : node.provinceLabel });
      }
    });
    return {
      animation: false,
      tooltip: {
        formatter: function (item) {
          if (item.dataType === "edge") {
            var e = item.data;
            return html(e.title) + "<br>" + html(e.typeLabel) + " · " + html(e.statusLabel) +
              "<br>" + html(e.start) + " – " + html(e.end || "…") + " <span>" + html(e.code) + "</span>";
          }
          var n = item.data;
          return html(n.name) + "<br>" + html(n.provinceLabel) + " · " + html(n.kindLabel) +
            "<br>" + html(words.beds) + " " + html(n.beds) + " · " + html(words.agreements) + " " +
            html(n.agreements);
        }
      },
      legend: [{ data: groups.map(function (g) { return g.name; }), top: 4 }],
      series: [{
        type: "graph",
        layout: "force",
        roam: true,
        zoom: 0.85,
        draggable: true,
        autoCurveness: true,
        categories: groups,
        force: { repulsion: 180, edgeLength: [40, 140], gravity: 0.08 },
        label: { show: true, position: "right", fontSize: 10, formatter: function (p) {
          return p.data.beds >= 800 ? p.data.name : "";
        } },
        emphasis: { focus: "adjacency", label: { show: true, formatter: "{b}" },
                    edgeLabel: { show: true, formatter: function (p) { return p.data.typeLabel; } } },
        edgeSymbol: ["none", "arrow"],
        edgeSymbolSize: 6,
        lineStyle: { width: 1.5, opacity: 0.7 },
        data: nodes.map(function (node) {
          var key = colourBy === "kind" ? node.kind : node.province;
          return Object.assign({}, node, {
            symbolSize: nodeSize(node), category: groupIndex[key]
          });
        }),
        links: edges.map(function (edge) {
          return Object.assign({}, edge, {
            lineStyle: { color: colours[edge.type] || "#667085" }
          });
        })
      }]
    };
  }

  function networkGraph(container) {
    var nodeTable = document.getElementById(container.dataset.nodes);
    var edgeTable = document.getElementById(container.dataset.edges);
    var colour = document.getElementById(container.dataset.colour);
    if (!nodeTable || !edgeTable || typeof echarts === "undefined") {
      return;
    }
    var nodes = readNodes(nodeTable);
    var edges = readEdges(edgeTable);
    if (nodes.length === 0) {
      container.hidden = true;
      return;
    }
    var colours = typeColours(document.getElementById(container.dataset.legend));
    var chart = echarts.init(container, null, { renderer: "canvas" });
    function draw() {
      var words = { beds: container.dataset.bedsLabel, agreements: container.dataset.agreementsLabel };
      chart.setOption(graphOption(nodes, edges, colour ? colour.value : "province", words,
                                  colours), true);
    }
    draw();
    if (colour) {
      colour.addEventListener("change", draw);
    }
    container.dataset.rendered = String(nodes.length);
    container.dataset.renderedEdges = String(edges.length);
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function programmeChart(container) {
    var table = document.getElementById(container.dataset.table);
    if (!table || typeof echarts === "undefined") {
      return;
    }
    var figures = [];
    table.querySelectorAll("thead th[data-charted]").forEach(function (cell) {
      figures.push({ code: cell.dataset.figure, name: cell.textContent.trim() });
    });
    var regions = [];
    var values = figures.map(function () { return []; });
    table.querySelectorAll("tbody tr[data-region]").forEach(function (row) {
      if (row.dataset.region === "total") {
        return;
      }
      regions.push(row.dataset.label);
      figures.forEach(function (figure, index) {
        var cell = row.querySelector("td[data-figure='" + figure.code + "']");
        values[index].push(cell ? Number(cell.dataset.value || 0) : 0);
      });
    });
    if (regions.length === 0) {
      container.hidden = true;
      return;
    }
    var chart = echarts.init(container, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      grid: { left: 8, right: 8, top: 40, bottom: 8, containLabel: true },
      legend: { top: 0 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "category", data: regions },
      yAxis: { type: "value", minInterval: 1 },
      series: figures.map(function (figure, index) {
        return { type: "bar", name: figure.name, data: values[index],
                 label: { show: true, position: "top", fontSize: 10 } };
      })
    });
    container.dataset.rendered = String(regions.length);
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-network-graph]").forEach(networkGraph);
    document.querySelectorAll("[data-programme-chart]").forEach(programmeChart);
  });
})();
