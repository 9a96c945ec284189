/* Pre-label quality: agreement of each model version's top label with the annotators' consensus,
   from GET /api/inference/quality/. A summary table, then per model version a bar chart (overall
   and per class) and the class table. A model with nothing compared yet shows "n/a", not 0 %. */
(function () {
  "use strict";
  const root = document.getElementById("quality-page");
  if (!root) return;
  const { el, api } = window.Studio;
  const NS = "http://www.w3.org/2000/svg";
  const KNOWN = ["angry", "happy", "sad", "neutral", "calm", "fear", "disgust", "surprise"];
  const svg = (name, attrs = {}, text) => {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const colour = (label) => (KNOWN.includes(label) ? `var(--emo-${label})` : "var(--emo-other)");
  const has = (v) => v !== null && v !== undefined && !isNaN(v);
  const pct = (v) => (has(v) ? `${Math.round(v * 100)} %` : "n/a");

  function meter(value) {
    const fill = el("span");
    fill.style.width = `${has(value) ? Math.round(value * 100) : 0}%`;
    return el("span", { class: "agree-meter", "aria-hidden": "true" }, fill);
  }

  /* Horizontal bars, 0–100 %: the overall agreement first (dark), then one bar per class. */
  function chart(model) {
    const classes = Object.entries(model.per_class || {});
    const rows = [["overall", { n: model.n_compared, agreement: model.agreement }, true], ...classes.map(([c, v]) => [c, v, false])];
    const W = 520, L = 86, R = 96, rowH = 26, T = 8, B = 22;
    const H = T + rows.length * rowH + B;
    const x = (v) => L + v * (W - L - R);
    const node = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": `Agreement of ${model.name}, overall and per class` });
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      node.append(svg("line", { class: "grid-line", x1: x(v), x2: x(v), y1: T, y2: H - B }));
      node.append(svg("text", { x: x(v), y: H - 6, "text-anchor": "middle" }, `${v * 100}%`));
    }
    rows.forEach(([label, v, overall], i) => {
      const y = T + i * rowH;
      node.append(svg("text", { x: L - 8, y: y + rowH / 2 + 4, "text-anchor": "end", "font-weight": overall ? 700 : 400 }, label));
      if (has(v.agreement)) {
        const bar = svg("rect", {
          class: overall ? "bar-overall" : "bar-class", x: L, y: y + 4, height: rowH - 8, rx: 3,
          width: Math.max(1, x(v.agreement) - L), "data-label": label, "data-agreement": v.agreement,
        });
        if (!overall) bar.style.setProperty("--emo", colour(label));
        bar.append(svg("title", {}, `${label}: ${pct(v.agreement)} of ${v.n} clip(s)`));
        node.append(bar);
        const text = svg("text", { class: "value", x: x(v.agreement) + 6, y: y + rowH / 2 + 4 }, pct(v.agreement));
        text.append(svg("tspan", { class: "n", dx: 4 }, `n=${v.n}`));
        node.append(text);
      } else {
        node.append(svg("text", { class: "na", x: L + 4, y: y + rowH / 2 + 4 }, "n/a (nothing compared)"));
      }
    });
    node.append(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
    return node;
  }

  function modelCard(model) {
    const classes = Object.entries(model.per_class || {});
    return el("section", { class: "card", "data-model": model.id, "aria-label": model.name },
      el("div", { class: "card-head" },
        el("h2", { class: "name", text: model.name }),
        el("span", { class: "muted small", text: `${model.n_compared} compared · ${pct(model.agreement)} agreement` })),
      el("div", { class: "quality-body" }, el("div", { class: "chart-box" }, chart(model)),
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
