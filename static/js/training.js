/* Live training curves and the test confusion matrix of a run, drawn with Charts (Chart.js) from
   the run's API row; for a cross-validated run, its folds' table and the summed confusion matrix. Used on the run page and on the admin's run change page. Polls while the run
   is live. */
(function () {
  "use strict";
  const root = document.getElementById("run-live");
  if (!root) return;
  const api = root.dataset.api;
  const SERIES = [
    { key: "train_loss", label: "train loss", axis: "loss" },
    { key: "val_loss", label: "validation loss", axis: "loss" },
    { key: "val_ua", label: "validation UA", axis: "score" },
    { key: "val_macro_f1", label: "validation macro-F1", axis: "score" },
  ];

  /* Rows of true classes with no test clip are hidden: they hold only zeros. */
  function drawConfusion(holder, metrics) {
    if (!metrics || !metrics.confusion_matrix) {
      Charts.mount(holder, null, { empty: "No test confusion matrix yet: it appears when the run has been evaluated." });
      return;
    }
    const m = metrics.confusion_matrix;
    const labels = metrics.labels || m.map((_, i) => String(i));
    const support = m.map((row) => row.reduce((a, b) => a + b, 0));
    Charts.matrix(holder, {
      rows: labels, cols: labels, values: m, rowIndex: Charts.usedRows(m),
      xTitle: "Predicted emotion", yTitle: "True emotion",
      shade: (v, i) => (support[i] ? 0.1 + 0.85 * (v / support[i]) : 0),
      tooltip: (d) => `true ${d.y} → predicted ${d.x}: ${d.v} of ${support[d.i]} clip${support[d.i] === 1 ? "" : "s"}`,
      empty: "No test clip.", label: "Test confusion matrix: rows true emotion, columns predicted",
    });
  }

  const fmt = (v) => (typeof v === "number" ? v.toFixed(3) : "—");

  /* Curves per epoch; a family that trains in one pass (classical: scikit-learn, no epochs) has
     no curve to draw, so its final scores are said instead. An axis no series uses is removed
     (a run that logged losses only has no empty "Validation score" axis). */
  function drawCurves(holder, run) {
    const history = run.history || [];
    if (run.family === "classical") {
      const last = history.length ? history[history.length - 1] : {};
      const parts = [];
      if (last.val_ua != null) parts.push(`validation UA ${fmt(last.val_ua)}`);
      if (last.val_macro_f1 != null) parts.push(`validation macro-F1 ${fmt(last.val_macro_f1)}`);
      if (last.train_loss != null) parts.push(`train loss ${fmt(last.train_loss)}`);
      const t = run.test_metrics;
      if (t && t.ua != null) parts.push(`test UA ${fmt(t.ua)}`);
      const done = parts.length ? `Final scores: ${parts.join(" · ")}.` : "Its scores appear here when it has finished.";
      Charts.mount(holder, null, {
        empty: `A classical model (scikit-learn) is fitted in one pass, with no epochs: there are no training curves. ${done}`,
      });
      return;
    }
    const chart = Charts.trainingCurves(holder, history, SERIES);
    if (!chart) return;
    const used = new Set(chart.data.datasets.map((d) => d.yAxisID));
    let changed = false;
    for (const id of ["loss", "score"]) {
      if (!used.has(id) && chart.options.scales[id]) {
        delete chart.options.scales[id];
        changed = true;
      }
    }
    if (changed) chart.update();
  }

  /* A cross-validated run: one row per fold (its child run) with live status and progress, and
     the mean ± std and pooled rows once every fold succeeded. */
  function drawFolds(run) {
    const table = document.getElementById("run-folds");
    if (!table) return;
    const cell = (text, cls) => { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; };
    const body = table.querySelector("tbody");
    body.replaceChildren(...(run.children || []).map((c) => {
      const tr = document.createElement("tr");
      tr.dataset.fold = c.fold;
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = c.fold;
      const link = document.createElement("a");
      link.href = c.url;
      link.textContent = `#${c.id}`;
      const runCell = document.createElement("td");
      runCell.append(link);
      const t = c.test_metrics || {};
      tr.append(th, runCell, cell(c.status + (c.error ? ` — ${c.error}` : "")), cell(`${Math.round(c.progress * 100)} %`, "num"),
        cell(t.n != null ? String(t.n) : "—", "num"), cell(fmt(t.ua), "num"), cell(fmt(t.wa), "num"), cell(fmt(t.macro_f1), "num"));
      return tr;
    }));
    const cv = run.cv_metrics;
    if (!cv) return;
    const row = (id, title, n, values) => {
      const tr = document.createElement("tr");
      tr.id = id;
      const th = document.createElement("th");
      th.scope = "row";
      th.colSpan = 4;
      th.textContent = title;
      tr.append(th, cell(String(n), "num"), ...values.map((v) => cell(v, "num")));
      return tr;
    };
    const pm = (k) => `${fmt(cv.mean[k])} ± ${fmt(cv.std[k])}`;
    table.querySelector("tfoot").replaceChildren(
      row("cv-mean", `Mean ± std over ${cv.k} folds`, cv.n_test, ["ua", "wa", "macro_f1"].map(pm)),
      row("cv-pooled", "Pooled (all folds' predictions)", cv.pooled.n, [fmt(cv.pooled.ua), fmt(cv.pooled.wa), fmt(cv.pooled.macro_f1)]));
  }

  async function refresh() {
    const response = await fetch(api, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) return;
    const run = await response.json();
    const status = document.getElementById("run-status");
    const pct = Math.round(run.progress * 100);
    status.textContent = `${run.status} — epoch ${run.epoch}, step ${run.step}/${run.total_steps} (${pct}%)` +
      (run.resumed_from_epoch ? `, resumed after epoch ${run.resumed_from_epoch}` : "") + (run.error ? ` — ${run.error}` : "");
    if (root.dataset.cv) {
      drawFolds(run);
      drawConfusion(document.getElementById("run-confusion"), run.cv_metrics && run.cv_metrics.pooled);
      const done = (run.children || []).filter((c) => c.status === "succeeded").length;
      status.textContent = `${run.status} — ${done} of ${(run.children || []).length} folds done (${pct}%)` + (run.error ? ` — ${run.error}` : "");
    } else {
      drawCurves(document.getElementById("run-chart"), run);
      drawConfusion(document.getElementById("run-confusion"), run.test_metrics);
    }
    const metrics = document.getElementById("run-metrics");
    if (metrics && run.cv_metrics) {
      const cv = run.cv_metrics;
      metrics.textContent = `Cross-validated test UA ${fmt(cv.mean.ua)} ± ${fmt(cv.std.ua)} · WA ${fmt(cv.mean.wa)} ± ${fmt(cv.std.wa)} · macro-F1 ${fmt(cv.mean.macro_f1)} ± ${fmt(cv.std.macro_f1)} (${cv.k} folds)`;
    } else if (metrics && run.test_metrics) {
      const t = run.test_metrics;
      metrics.textContent = `Test: UA ${fmt(t.ua)} · WA ${fmt(t.wa)} · macro-F1 ${fmt(t.macro_f1)}`;
    }
    root.dataset.state = run.status;
    if (run.status === "queued" || run.status === "running") setTimeout(refresh, 2000);
  }
  refresh();
})();
