/* Pre-label quality: agreement of each model version's top label with the annotators' consensus,
   from GET /api/inference/quality/ (clips seen in training or validation left out; gold imports
   too unless "Include gold imports" is ticked: ?include_gold=1). A summary table, then per model
   version a bar chart (overall and per class) and the class table. A model with nothing compared
   yet shows "n/a", not 0 %. While a pre-label job of a model is queued or running its row says
   "partial: N of M" and the page reads the figures again every few seconds. */
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
        el("span", { class: "muted small", text: `${model.partial ? `partial: ${model.n_compared} of ${model.n_eligible}` : model.n_compared} compared · ${pct(model.agreement)} agreement` })),
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

  const goldBox = document.getElementById("include-gold");
  goldBox.checked = new URLSearchParams(window.location.search).get("include_gold") === "1";
  let timer = null;
  goldBox.addEventListener("change", () => {
    const url = new URL(window.location.href);
    if (goldBox.checked) url.searchParams.set("include_gold", "1");
    else url.searchParams.delete("include_gold");
    window.history.replaceState(null, "", url);
    load();
  });

  function excluded(m) {
    const parts = [`${Studio.plural(m.n_excluded_seen, "clip")} seen in training`];
    if (!m.include_gold) parts.push(`${m.n_excluded_gold} gold`);
    return parts.join(", ");
  }

  function compared(m) {
    return m.partial ? `partial: ${m.n_compared} of ${m.n_eligible}` : String(m.n_compared);
  }

  async function load() {
    clearTimeout(timer);
    const status = document.getElementById("quality-status");
    const { ok, status: code, data } = await api(root.dataset.api + (goldBox.checked ? "?include_gold=1" : ""));
    if (!ok || !data) {
      const box = document.getElementById("quality-error");
      box.textContent = (data && data.detail) || `The quality figures could not be loaded (HTTP ${code}).`;
      box.classList.remove("hidden");
      status.textContent = "";
      root.dataset.state = "error";
      return;
    }
    document.getElementById("quality-error").classList.add("hidden");
    const models = data.model_versions || [];
    const tbody = document.querySelector("#quality-table tbody");
    tbody.replaceChildren(...(models.length ? models.map((m) => el("tr", { "data-model": m.id, "data-partial": m.partial ? "1" : null },
      el("td", { class: "name", text: m.name }),
      el("td", { class: "num nowrap", text: compared(m) }),
      el("td", { class: "nowrap" }, meter(m.agreement), pct(m.agreement)),
      el("td", { class: "small", text: excluded(m) }))) : [el("tr", {}, el("td", { colspan: 4, class: "empty", text: "No model version yet." }))]));
    const withFigures = models.filter((m) => m.n_compared > 0);
    document.getElementById("quality-models").replaceChildren(...withFigures.map(modelCard));
    // Drawn once the cards are in the page, so that each chart knows its width.
    for (const m of withFigures) chart(document.querySelector(`[data-chart="${m.id}"]`), m);
    const empty = document.getElementById("empty-state");
    empty.classList.add("hidden");
    if (!withFigures.length) {
      if (!models.length) {
        document.getElementById("empty-title").textContent = "No model version yet.";
        document.getElementById("empty-text").textContent = "Train a model on a release: once it pre-labels clips and the annotators agree on them, its agreement appears here.";
      }
      empty.classList.remove("hidden");
    }
    const partial = models.filter((m) => m.partial).length;
    status.textContent = `${models.length} model version${models.length === 1 ? "" : "s"} · ${withFigures.length} with comparisons` +
      (partial ? ` · ${partial} still pre-labelling: figures partial, refreshed every 5 s` : "");
    root.dataset.state = withFigures.length ? "ready" : "empty";
    if (partial) timer = setTimeout(load, 5000);
  }

  load();
})();
