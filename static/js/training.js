/* Live training curves and the confusion matrix, drawn as SVG from the run's API row.
   Used on the run page and on the admin's run change page. Polls while the run is live. */
(function () {
  "use strict";
  const root = document.getElementById("run-live");
  if (!root) return;
  const api = root.dataset.api;
  const NS = "http://www.w3.org/2000/svg";
  const el = (name, attrs, text) => {
    const n = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  };
  const SERIES = [
    ["train_loss", "#c0392b", "train loss", "loss"],
    ["val_loss", "#e67e22", "validation loss", "loss"],
    ["val_ua", "#2471a3", "validation UA", "score"],
    ["val_macro_f1", "#27ae60", "validation macro-F1", "score"],
  ];

  function drawCurves(svg, history) {
    svg.replaceChildren();
    const W = +svg.getAttribute("width"), H = +svg.getAttribute("height"), L = 44, R = 44, T = 14, B = 40;
    if (!history.length) {
      svg.append(el("text", { x: 20, y: 40, fill: "#666" }, "No finished epoch yet."));
      return;
    }
    const n = history.length;
    const maxLoss = Math.max(1e-6, ...history.flatMap((h) => [h.train_loss, h.val_loss].filter((v) => v != null)));
    const x = (i) => L + (n === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1));
    const yLoss = (v) => T + (1 - v / maxLoss) * (H - T - B);
    const yScore = (v) => T + (1 - v) * (H - T - B);
    svg.append(el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }));
    svg.append(el("text", { x: 4, y: T + 10, "font-size": 11, fill: "#555" }, maxLoss.toFixed(2)));
    svg.append(el("text", { x: W - R + 4, y: T + 10, "font-size": 11, fill: "#555" }, "1.0"));
    svg.append(el("text", { x: W / 2 - 20, y: H - 8, "font-size": 11, fill: "#555" }, "epoch 1–" + n));
    SERIES.forEach(([key, color, label, axis], k) => {
      const pts = history.map((h, i) => (h[key] == null ? null : [x(i), axis === "loss" ? yLoss(h[key]) : yScore(h[key])])).filter(Boolean);
      if (!pts.length) return;
      svg.append(el("polyline", { points: pts.map((p) => p.join(",")).join(" "), fill: "none", stroke: color, "stroke-width": 2 }));
      pts.forEach((p, i) => {
        const dot = el("circle", { cx: p[0], cy: p[1], r: 3, fill: color });
        dot.append(el("title", {}, `${label}, epoch ${i + 1}: ${history[i][key].toFixed(4)}`));
        svg.append(dot);
      });
      svg.append(el("rect", { x: L + 10 + k * 170, y: H - 24, width: 10, height: 10, fill: color }));
      svg.append(el("text", { x: L + 24 + k * 170, y: H - 15, "font-size": 11 }, label));
    });
  }

  function drawConfusion(svg, metrics) {
    svg.replaceChildren();
    if (!metrics || !metrics.confusion_matrix) return;
    const m = metrics.confusion_matrix, labels = metrics.labels || m.map((_, i) => String(i));
    const n = m.length, size = 300, cell = size / n, L = 90, T = 30;
    const max = Math.max(1, ...m.flat());
    svg.append(el("text", { x: L, y: 16, "font-size": 12 }, "Test confusion (rows: true, columns: predicted)"));
    m.forEach((row, i) => {
      svg.append(el("text", { x: L - 6, y: T + i * cell + cell / 2 + 4, "text-anchor": "end", "font-size": 11 }, labels[i]));
      row.forEach((v, j) => {
        const shade = Math.round(255 - (200 * v) / max);
        const r = el("rect", { x: L + j * cell, y: T + i * cell, width: cell - 1, height: cell - 1, fill: `rgb(${shade},${shade},255)` });
        r.append(el("title", {}, `${labels[i]} → ${labels[j]}: ${v}`));
        svg.append(r);
        svg.append(el("text", { x: L + j * cell + cell / 2, y: T + i * cell + cell / 2 + 4, "text-anchor": "middle", "font-size": 11 }, String(v)));
      });
      svg.append(el("text", { x: L + i * cell + cell / 2, y: T + size + 14, "text-anchor": "middle", "font-size": 11 }, labels[i]));
    });
  }

  async function refresh() {
    const response = await fetch(api, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) return;
    const run = await response.json();
    const status = document.getElementById("run-status");
    const pct = Math.round(run.progress * 100);
    status.textContent = `${run.status} — epoch ${run.epoch}, step ${run.step}/${run.total_steps} (${pct}%)` +
      (run.resumed_from_epoch ? `, resumed after epoch ${run.resumed_from_epoch}` : "") + (run.error ? ` — ${run.error}` : "");
    drawCurves(document.getElementById("run-chart"), run.history || []);
    drawConfusion(document.getElementById("run-confusion"), run.test_metrics);
    const metrics = document.getElementById("run-metrics");
    if (metrics && run.test_metrics) {
      const t = run.test_metrics;
      metrics.textContent = `Test: UA ${t.ua.toFixed(3)} · WA ${t.wa.toFixed(3)} · macro-F1 ${t.macro_f1.toFixed(3)}`;
    }
    if (run.status === "queued" || run.status === "running") setTimeout(refresh, 2000);
  }
  refresh();
})();
