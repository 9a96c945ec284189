/* Pre-label quality: agreement of each model version's top label with the annotators' consensus,
   from GET /api/inference/quality/. A summary table, then per model version a bar chart (overall
   and per class) and the class table. A model with nothing compared yet shows "n/a", not 0 %. */
(function () {
  "use strict";
  const root = document.getElementById("quality-page");
  if (!root) return;
  const { el, api } = window.Studio;
  const KNOWN = ["angry", "happy", "sad", "neutral", "calm", "fear", "disgust", "surprise"];
  const colour = (label) => (KNOWN.includes(label) ? `var(--emo-${label})` : "var(--emo-other)");
  const has = (v) => v !== null && v !== undefined && !isNaN(v);
  const pct = (v) => (has(v) ? `${Math.round(v * 100)} %` : "n/a");

  function meter(value) {
    const fill = el("span");
    fill.style.width = `${has(value) ? Math.round(value * 100) : 0}%`;
    return el("span", { class: "agree-meter", "aria-hidden": "true" }, fill);
  }

  /* Horizontal bars (Charts), 0–100 %: the overall agreement first (dark), then one bar per
     class; a class with nothing compared has no bar and says "n/a". */
  function chart(holder, model) {
    const classes = Object.entries(model.per_class || {});
    const css = getComputedStyle(document.documentElement);
    const emo = (label) => css.getPropertyValue(`--emo-${KNOWN.includes(label) ? label : "other"}`).trim() || "#667085";
    const rows = [["overall", { n: model.n_compared, agreement: model.agreement }, true], ...classes.map(([c, v]) => [c, v, false])]
      .map(([label, v, overall]) => ({
        label: has(v.agreement) ? label : `${label} (n/a)`, name: label, n: v.n,
        value: has(v.agreement) ? Math.round(v.agreement * 1000) / 10 : null, colour: overall ? "#1f2933" : emo(label),
      }));
    return Charts.bars(holder, rows, {
      valueTitle: "Top label equal to the consensus (%)", categoryTitle: "Class", horizontal: true, min: 0, max: 100,
      tooltip: (r) => (r.value == null ? `${r.name}: n/a (nothing compared)` : `${r.name}: ${r.value} % of ${r.n} clip(s)`),
      label: `Agreement of ${model.name}, overall and per class`,
    });
  }

  function modelCard(model) {
    const classes = Object.entries(model.per_class || {});
    return el("section", { class: "card", "data-model": model.id, "aria-label": model.name },
      el("div", { class: "card-head" },
        el("h2", { class: "name", text: model.name }),
        el("span", { class: "muted small", text: `${model.n_compared} compared · ${pct(model.agreement)} agreement` })),
      el("div", { class: "quality-body" }, el("div", { class: "chart-box", "data-chart": model.id }),
      el("div", { class: "table-wrap" }, el("table", { class: "table" },
        el("thead", {}, el("tr", {}, el("th", { text: "Class" }), el("th", { class: "num", text: "Compared" }), el("th", { text: "Agreement" }))),
        el("tbody", {}, ...(classes.length ? classes.map(([c, v]) => {
          const swatch = el("span", { class: "swatch" });
          swatch.style.setProperty("--emo", colour(c));
          return el("tr", { "data-class": c },
            el("td", {}, el("span", { class: "label-pill" }, swatch, c)),
            el("td", { class: "num", text: v.n }),
            el("td", { class: "nowrap" }, meter(v.agreement), pct(v.agreement)));
        }) : [el("tr", {}, el("td", { colspan: 3, class: "empty", text: "No class compared yet." }))]))))));
  }

  async function load() {
    const status = document.getElementById("quality-status");
    const { ok, status: code, data } = await api(root.dataset.api);
    if (!ok || !data) {
      const box = document.getElementById("quality-error");
      box.textContent = (data && data.detail) || `The quality figures could not be loaded (HTTP ${code}).`;
      box.classList.remove("hidden");
      status.textContent = "";
      root.dataset.state = "error";
      return;
    }
    const models = data.model_versions || [];
    const tbody = document.querySelector("#quality-table tbody");
    tbody.replaceChildren(...(models.length ? models.map((m) => el("tr", { "data-model": m.id },
      el("td", { class: "name", text: m.name }),
      el("td", { class: "num", text: m.n_compared }),
      el("td", { class: "nowrap" }, meter(m.agreement), pct(m.agreement)))) : [el("tr", {}, el("td", { colspan: 3, class: "empty", text: "No model version yet." }))]));
    const compared = models.filter((m) => m.n_compared > 0);
    document.getElementById("quality-models").replaceChildren(...compared.map(modelCard));
    // Drawn once the cards are in the page, so that each chart knows its width.
    for (const m of compared) chart(document.querySelector(`[data-chart="${m.id}"]`), m);
    const empty = document.getElementById("empty-state");
    if (!compared.length) {
      if (!models.length) {
        document.getElementById("empty-title").textContent = "No model version yet.";
        document.getElementById("empty-text").textContent = "Train a model on a release: once it pre-labels clips and the annotators agree on them, its agreement appears here.";
      }
      empty.classList.remove("hidden");
    }
    status.textContent = `${models.length} model version${models.length === 1 ? "" : "s"} · ${compared.length} with comparisons`;
    root.dataset.state = compared.length ? "ready" : "empty";
  }

  load();
})();
