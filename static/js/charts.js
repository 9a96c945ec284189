/* The one chart module: every chart of the app is a Chart.js 4 chart (static/vendor/chart.js-*),
   made here so that all of them have titled axes with units, tooltips and an empty state.
   Matrices use the chartjs-chart-matrix controller (static/vendor/chartjs-chart-matrix-*).
   Exposed as window.Charts. Pages load, in order: chart.umd.min.js, chartjs-chart-matrix.min.js
   (matrix pages only), common.js (from base.html), charts.js, then the page's script. */
(function () {
  "use strict";

  const INK = "#1f2933";
  const MUTED = "#616e7c";
  const GRID = "rgba(31, 41, 51, 0.08)";
  /* One colour per series, in order (colour-blind-safe: Okabe–Ito). */
  const PALETTE = ["#d55e00", "#e69f00", "#0072b2", "#009e73", "#cc79a7", "#56b4e9", "#f0e442"];

  if (window.Chart) {
    Chart.defaults.color = MUTED;
    Chart.defaults.font.family = getComputedStyle(document.body || document.documentElement).fontFamily || "system-ui, sans-serif";
    Chart.defaults.font.size = 12;
    Chart.defaults.animation = false; // charts are redrawn on every poll; motion would only distract
    Chart.defaults.maintainAspectRatio = false; // the holder's height decides
    Chart.defaults.plugins.tooltip.intersect = false;
  }

  /* A scale with a visible title (the title carries the unit: "Clip duration (s)"). */
  function axis(title, extra = {}) {
    return {
      grid: { color: GRID },
      ...extra,
      title: { display: true, text: title, color: INK, font: { weight: "600" } },
      ticks: { color: MUTED, ...(extra.ticks || {}) },
    };
  }

  function emptyNote(text) {
    const p = document.createElement("p");
    p.className = "empty chart-empty";
    p.textContent = text;
    return p;
  }

  /* Replace what `holder` shows with a chart made from `config` (the chart drawn there before is
     destroyed), or with the `empty` note when `config` is null. `height` is in CSS pixels.
     Returns the Chart, or null. */
  function mount(holder, config, { empty = "Nothing to chart yet.", height = 260, label = "" } = {}) {
    const old = holder.querySelector("canvas");
    if (old && window.Chart && Chart.getChart(old)) Chart.getChart(old).destroy();
    if (!config) {
      holder.replaceChildren(emptyNote(empty));
      return null;
    }
    const box = document.createElement("div");
    box.className = "chart-canvas";
    box.style.position = "relative";
    box.style.height = `${height}px`;
    const canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    if (label) canvas.setAttribute("aria-label", label);
    box.append(canvas);
    holder.replaceChildren(box);
    return new Chart(canvas, config);
  }

  /* A fresh detached holder, for pages that build their DOM before inserting it. */
  function holder(className = "chart-holder") {
    const div = document.createElement("div");
    div.className = className;
    return div;
  }

  const fmtNum = (v, digits = 2) => (v == null || Number.isNaN(Number(v)) ? "n/a" : Number(v).toFixed(digits));

  /* Lines over the epochs: loss on the left axis, scores (0–1) on the right one.
     series: [{key, label, axis: "loss" | "score"}]; history: [{epoch, <key>: number|null}]. */
  function trainingCurves(el, history, series) {
    if (!history || !history.length) return mount(el, null, { empty: "No epochs yet: the curves appear after the first epoch ends." });
    const labels = history.map((h, i) => String(h.epoch ?? i + 1));
    const datasets = series
      .filter((s) => history.some((h) => h[s.key] != null))
      .map((s, k) => ({
        label: s.label,
        data: history.map((h) => (h[s.key] == null ? null : h[s.key])),
        yAxisID: s.axis === "loss" ? "loss" : "score",
        borderColor: PALETTE[k % PALETTE.length],
        backgroundColor: PALETTE[k % PALETTE.length],
        pointRadius: history.length === 1 ? 5 : 3,
        spanGaps: true,
        tension: 0.15,
      }));
    return mount(el, {
      type: "line",
      data: { labels, datasets },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: {
          x: axis("Epoch", { offset: true }), // a one-epoch run's points sit mid-axis, not on its edge
          loss: axis("Loss (cross-entropy)", { type: "linear", position: "left", beginAtZero: true }),
          score: axis("Validation score (0–1)", { type: "linear", position: "right", min: 0, max: 1, grid: { drawOnChartArea: false } }),
        },
        plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${fmtNum(c.parsed.y, 4)}` } } },
      },
    }, { label: "Loss and validation scores per epoch", height: 280 });
  }

  /* Clip-duration histogram from {edges: [s...], counts: [n...]} (bins in seconds). */
  function durationHistogram(el, hist, { empty = "No clips to chart yet." } = {}) {
    if (!hist || !hist.counts || !hist.counts.some((c) => c > 0)) return mount(el, null, { empty });
    const e = hist.edges;
    const f = (v) => Number(v).toFixed(Number(v) % 1 ? 1 : 0);
    const total = hist.counts.reduce((a, b) => a + b, 0);
    return mount(el, {
      type: "bar",
      data: {
        labels: hist.counts.map((_, i) => `${f(e[i])}–${f(e[i + 1])}`),
        datasets: [{ label: "Clips", data: hist.counts, backgroundColor: PALETTE[2], barPercentage: 1, categoryPercentage: 0.96 }],
      },
      options: {
        scales: {
          x: axis("Clip duration (s)", { ticks: { autoSkip: true, maxRotation: 0 } }),
          y: axis("Clips (count)", { beginAtZero: true, ticks: { precision: 0 } }),
        },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { title: (items) => `${items[0].label} s`, label: (c) => `${c.parsed.y} clip${c.parsed.y === 1 ? "" : "s"}` } },
        },
      },
    }, { label: `Clip durations: ${window.Studio ? window.Studio.plural(total, "clip") : total + " clips"} in ${hist.counts.length} bins from ${e[0]} to ${e[e.length - 1]} s`, height: 240 });
  }

  /* Horizontal or vertical bars: rows [{label, value|null, colour?}], value axis from `min` to `max`.
     `valueTitle` names the value axis (with its unit), `categoryTitle` the other one. */
  function bars(el, rows, { valueTitle, categoryTitle, horizontal = false, min = 0, max, format = (v) => fmtNum(v),
    tooltip, empty = "Nothing to chart yet.", label = "", colour = PALETTE[2], height, integer = false } = {}) {
    if (!rows || !rows.length) return mount(el, null, { empty });
    const valueAxis = axis(valueTitle, { min, max, beginAtZero: min >= 0, ticks: integer ? { precision: 0 } : {} });
    const catAxis = axis(categoryTitle, { grid: { display: false }, ticks: { autoSkip: false } });
    return mount(el, {
      type: "bar",
      data: {
        labels: rows.map((r) => r.label),
        datasets: [{
          label: valueTitle,
          data: rows.map((r) => r.value),
          backgroundColor: rows.map((r) => r.colour || colour),
          borderRadius: 3,
        }],
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        scales: horizontal ? { x: valueAxis, y: catAxis } : { x: catAxis, y: valueAxis },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: tooltip ? (c) => tooltip(rows[c.dataIndex]) : (c) => format(c.raw) } },
        },
      },
    }, { label, height: height || (horizontal ? Math.max(150, 60 + rows.length * 30) : 260) });
  }

  /* Indices of the rows of `m` (a list of rows) that hold anything: rows nobody used are hidden. */
  function usedRows(m) {
    return m.map((row, i) => [row, i]).filter(([row]) => row.some((v) => v > 0)).map(([, i]) => i);
  }

  /* Writes each cell's value in the cell (the matrix controller draws only the squares). */
  const cellText = {
    id: "studioCellText",
    afterDatasetsDraw(chart, _args, opts) {
      if (!opts || !opts.format) return;
      const { ctx } = chart;
      const meta = chart.getDatasetMeta(0);
      ctx.save();
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.font = `12px ${Chart.defaults.font.family}`;
      meta.data.forEach((cell, i) => {
        const d = chart.data.datasets[0].data[i];
        const { x, y, width, height } = cell.getProps(["x", "y", "width", "height"], true);
        ctx.fillStyle = d.a > 0.55 ? "#fff" : INK;
        ctx.fillText(opts.format(d.v), x + width / 2, y + height / 2);
      });
      ctx.restore();
    },
  };

  /* A heat-map matrix. rows/cols: label lists; values[i][j] (row i, column j). Teal on the
     diagonal, orange off it; the strength `shade(v, i, j)` (0–1) decides the opacity.
     xTitle/yTitle name the axes ("Predicted emotion" / "True emotion"). */
  function matrix(el, { rows, cols, values, rowIndex, xTitle, yTitle, format = String, shade, tooltip,
    empty = "Nothing to chart yet.", label = "" }) {
    const keep = rowIndex || rows.map((_, i) => i);
    if (!keep.length) return mount(el, null, { empty });
    const data = [];
    keep.forEach((i) => values[i].forEach((v, j) => {
      const a = Math.max(0, Math.min(1, shade(v, i, j)));
      data.push({ x: cols[j], y: rows[i], v, i, j, a });
    }));
    const teal = (a) => `rgba(15, 110, 110, ${a.toFixed(3)})`;
    const orange = (a) => `rgba(220, 104, 3, ${a.toFixed(3)})`;
    const cell = 34;
    return mount(el, {
      type: "matrix",
      data: {
        datasets: [{
          label: label || "matrix",
          data,
          backgroundColor: (c) => { const d = c.raw; return d ? (d.i === d.j ? teal(d.a) : orange(d.a)) : "transparent"; },
          borderColor: "rgba(31, 41, 51, 0.12)",
          borderWidth: 1,
          width: ({ chart }) => (chart.chartArea || {}).width / cols.length - 1,
          height: ({ chart }) => (chart.chartArea || {}).height / keep.length - 1,
        }],
      },
      options: {
        scales: {
          x: axis(xTitle, { type: "category", labels: cols, offset: true, position: "top", grid: { display: false }, ticks: { autoSkip: false } }),
          // The matrix controller reverses y by default: rows read top-down in the order given.
          y: axis(yTitle, { type: "category", labels: keep.map((i) => rows[i]), offset: true, reverse: false, grid: { display: false }, ticks: { autoSkip: false } }),
        },
        plugins: {
          legend: { display: false },
          studioCellText: { format },
          tooltip: { callbacks: { title: () => "", label: (c) => (tooltip ? tooltip(c.raw) : `${c.raw.y} → ${c.raw.x}: ${format(c.raw.v)}`) } },
        },
      },
      plugins: [cellText],
    }, { label, height: Math.max(240, 80 + keep.length * cell) });
  }

  /* The Chart drawn in `holder` (tests and pages read it), or null. */
  function chartIn(holder) {
    const canvas = holder && holder.querySelector("canvas");
    return canvas && window.Chart ? Chart.getChart(canvas) || null : null;
  }

  /* What the chart in `holder` shows, as plain data (the browser tests read it): its type, each
     scale's title, the category labels and each dataset's values. Null when no chart is there. */
  function describe(holder) {
    const chart = chartIn(holder);
    if (!chart) return null;
    const scales = {};
    for (const [id, scale] of Object.entries(chart.options.scales || {})) scales[id] = scale.title && scale.title.display ? scale.title.text : null;
    return {
      type: chart.config.type,
      scales,
      labels: chart.data.labels || [],
      rows: chart.config.type === "matrix" ? chart.options.scales.y.labels : undefined,
      datasets: chart.data.datasets.map((d) => ({ label: d.label, data: d.data })),
    };
  }

  window.Charts = { PALETTE, axis, mount, holder, trainingCurves, durationHistogram, bars, matrix, usedRows, chartIn, describe, fmtNum };
})();
