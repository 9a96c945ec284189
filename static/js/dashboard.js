/* Agreement dashboard (curators): headline figures, charts (Chart.js, through static/js/charts.js) and heat-map tables of
   GET /api/agreement/, refetched when the filters change; Dawid–Skene reliability per annotator
   and "Recompute consensus". */
(function () {
  "use strict";
  const { api, el, fmtDuration } = window.Studio;

  const root = document.getElementById("dashboard-page");
  if (!root) return;
  const cfg = root.dataset;
  const form = document.getElementById("filters");

  let emotionNames = {};
  let genderNames = {};
  let inFlight = null; // AbortController of the figures request in flight

  // --- formatting ------------------------------------------------------------------------------
  const isNum = (v) => v != null && Number.isFinite(Number(v));
  const fmt3 = (v) => (isNum(v) ? Number(v).toFixed(3) : "–");
  const fmt2 = (v) => (isNum(v) ? Number(v).toFixed(2) : "n/a");
  const pct = (v, digits = 0) => (isNum(v) ? `${(Number(v) * 100).toFixed(digits)} %` : "–");
  const { plural } = window.Studio;
  const emotionName = (code) => emotionNames[code] || code;
  const genderName = (code) => genderNames[code] || (code === "unknown" ? "Unknown" : code);
  const short = (text, n) => (text.length > n ? text.slice(0, n - 1) + "…" : text);

  /* Landis & Koch (1977): <0 poor, 0–.20 slight, .21–.40 fair, .41–.60 moderate,
     .61–.80 substantial, .81–1 almost perfect. */
  const BANDS = [
    { key: "slight", label: "slight", upTo: 0.2 },
    { key: "fair", label: "fair", upTo: 0.4 },
    { key: "moderate", label: "moderate", upTo: 0.6 },
    { key: "substantial", label: "substantial", upTo: 0.8 },
    { key: "almost_perfect", label: "almost perfect", upTo: Infinity },
  ];
  function kappaBand(k) {
    if (!isNum(k)) return { key: "na", label: "n/a" };
    if (k < 0) return { key: "poor", label: "poor" };
    return BANDS.find((b) => k <= b.upTo);
  }

  const emptyNote = (text) => el("p", { class: "empty", text });

  function showMessage(text, kind = "error") {
    const box = document.getElementById("message");
    box.textContent = text || "";
    box.className = text ? `alert alert-${kind}` : "alert hidden";
  }

  // --- filters ---------------------------------------------------------------------------------
  const sources = document.getElementById("sources");
  const sourceBoxes = () => [...form.querySelectorAll("input[name=source]")];

  function updateSourcesSummary() {
    const chosen = sourceBoxes().filter((b) => b.checked);
    const label = document.getElementById("sources-summary");
    if (!chosen.length) label.textContent = "All sources";
    else if (chosen.length === 1) label.textContent = chosen[0].parentElement.textContent.trim();
    else label.textContent = plural(chosen.length, "source");
  }

  function filterQuery() {
    const q = new URLSearchParams();
    for (const box of sourceBoxes()) if (box.checked) q.append("source", box.value);
    if (form.date_from.value) q.set("date_from", form.date_from.value);
    if (form.date_to.value) q.set("date_to", form.date_to.value);
    return q;
  }

  /* The filters live in the address too, so a view can be shared or reloaded. */
  function filtersFromAddress() {
    const q = new URLSearchParams(window.location.search);
    const wanted = new Set(q.getAll("source"));
    for (const box of sourceBoxes()) box.checked = wanted.has(box.value);
    form.date_from.value = q.get("date_from") || "";
    form.date_to.value = q.get("date_to") || "";
    updateSourcesSummary();
  }

  let debounce = null;
  function filtersChanged() {
    updateSourcesSummary();
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      const q = filterQuery().toString();
      window.history.replaceState(null, "", window.location.pathname + (q ? `?${q}` : ""));
      loadFigures();
    }, 200);
  }

  form.addEventListener("change", filtersChanged);
  form.addEventListener("submit", (e) => { e.preventDefault(); filtersChanged(); });
  form.addEventListener("reset", () => setTimeout(filtersChanged, 0)); // after the fields reset
  const clearBtn = sources && sources.querySelector(".multi-clear");
  if (clearBtn) {
    clearBtn.addEventListener("click", () => {
      for (const box of sourceBoxes()) box.checked = false;
      filtersChanged();
    });
  }
  document.addEventListener("click", (e) => { if (sources && sources.open && !sources.contains(e.target)) sources.open = false; });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && sources && sources.open) { sources.open = false; sources.querySelector("summary").focus(); } });

  // --- headline figures ------------------------------------------------------------------------
  function setFig(key, text) {
    for (const node of root.querySelectorAll(`[data-fig="${key}"]`)) node.textContent = text;
  }
  function setMeter(key, share) {
    const node = root.querySelector(`[data-meter="${key}"]`);
    if (node) node.style.width = isNum(share) ? `${Math.round(share * 100)}%` : "0";
  }

  function renderHeadline(d) {
    const levels = d.agreement_levels || {};
    setFig("fleiss_kappa", fmt3(d.fleiss_kappa));
    root.querySelector('[data-fig="fleiss_kappa"]').dataset.value = d.fleiss_kappa ?? "";
    const band = kappaBand(d.fleiss_kappa);
    const badge = root.querySelector('[data-fig="fleiss_band"]');
    badge.className = `band band-${band.key}`;
    badge.textContent = band.label;
    setFig("fleiss_hint", d.fleiss_n_items ? `${plural(d.fleiss_n_items, "clip")} with ${d.fleiss_k} labels each` : "Needs clips with the same number of labels");
    setFig("fleiss_note", d.fleiss_note || "");
    setFig("krippendorff_alpha", fmt3(d.krippendorff_alpha));
    setFig("unanimous", pct(levels.unanimous));
    setMeter("unanimous", levels.unanimous);
    setFig("unanimous_hint", levels.n_items ? `${levels.n_unanimous} of ${plural(levels.n_items, "clip")} unanimous` : "No clip with 2+ labels");
    setFig("at_least_two", pct(levels.at_least_two));
    setMeter("at_least_two", levels.at_least_two);
    setFig("at_least_two_hint", levels.n_items ? `${levels.n_at_least_two} of ${levels.n_items} · ${levels.n_none} with no majority` : "No clip with 2+ labels");
    setFig("n_items", String(d.n_items ?? 0));
    setFig("n_votes_hint", plural(d.n_votes ?? 0, "label") + (d.escalated_clips ? ` · ${d.escalated_clips} escalated (more raters)` : ""));
    setFig("n_raters", String(d.n_raters ?? 0));
    const low = (d.rater_agreement_with_consensus || []).filter((r) => isNum(r.agreement) && r.agreement < 0.5).length;
    setFig("raters_hint", low ? `${low} below 0.5 agreement` : d.n_raters ? "none below 0.5 agreement" : " ");
  }

  // --- Fleiss' kappa per emotion: bars coloured by Landis & Koch band --------------------------
  const BAND_COLOUR = { poor: "#b42318", slight: "#dc6803", fair: "#ca8504", moderate: "#7a9a1a", substantial: "#2e8b57", almost_perfect: "#0f6e6e" };
  function kappaPerCategoryChart(box, categories, values) {
    // Nothing defined (one label per clip, say): a sentence, not axes over "(n/a)" categories.
    if (!values.some(isNum)) return Charts.mount(box, null, { empty: "Too few labels: κ per emotion needs clips labelled by 2+ annotators." });
    const rows = categories.map((code, i) => {
      const v = isNum(values[i]) ? Number(values[i]) : null;
      return { code, label: v == null ? `${emotionName(code)} (n/a)` : emotionName(code), value: v, colour: v == null ? null : BAND_COLOUR[kappaBand(v).key] };
    });
    const lo = Math.max(-1, Math.min(0, Math.floor(Math.min(0, ...rows.filter((r) => r.value != null).map((r) => r.value)) * 5) / 5));
    return Charts.bars(box, rows, {
      valueTitle: "Fleiss' κ (−1 to 1)", categoryTitle: "Emotion", min: lo, max: 1,
      tooltip: (r) => (r.value == null ? `${emotionName(r.code)}: not defined (no label of this emotion, or nothing else)` : `κ = ${fmt3(r.value)} (${kappaBand(r.value).label})`),
      label: "Fleiss' kappa per emotion", empty: "No labels to compare.",
    });
  }

  // --- agreement with the consensus: horizontal bars, lowest first ----------------------------
  function raterChart(box, rows) {
    if (rows.length && !rows.some((r) => isNum(r.agreement))) {
      return Charts.mount(box, null, { empty: "No clip has a consensus yet: nothing to compare each annotator with." });
    }
    const sorted = [...rows].sort((a, b) => (isNum(a.agreement) ? a.agreement : 2) - (isNum(b.agreement) ? b.agreement : 2) || String(a.rater).localeCompare(String(b.rater)));
    const bars = sorted.map((r) => {
      const low = isNum(r.agreement) && r.agreement < 0.5;
      return { rater: String(r.rater), low, n: r.n_compared, label: short(String(r.rater), 18) + (isNum(r.agreement) ? "" : " (n/a)"), value: isNum(r.agreement) ? Number(r.agreement) : null, colour: low ? "#b42318" : "#0f6e6e" };
    });
    return Charts.bars(box, bars, {
      valueTitle: "Labels equal to the consensus (share, 0–1; red: below 0.5)", categoryTitle: "Annotator", horizontal: true, min: 0, max: 1,
      tooltip: (r) => (r.value == null ? "n/a (no clip with a consensus)" : `${pct(r.value, 1)} of ${r.n} labels equal the consensus`),
      label: "Each annotator's agreement with the consensus", empty: "No annotator has labels here.",
    });
  }

  // --- heat-map tables -------------------------------------------------------------------------
  const TEAL = [15, 110, 110], RED = [180, 35, 24], ORANGE = [220, 104, 3];
  function paint(td, rgb, alpha) {
    const a = Math.max(0, Math.min(1, alpha));
    td.style.background = `rgba(${rgb[0]}, ${rgb[1]}, ${rgb[2]}, ${a.toFixed(3)})`;
    if (a > 0.55) td.classList.add("dark");
  }

  function cohenHeat(raters, pairs) {
    if (raters.length < 2) return emptyNote("Needs at least two annotators.");
    const kappa = new Map();
    for (const p of pairs) {
      kappa.set(`${p.rater_a}\u0000${p.rater_b}`, p);
      kappa.set(`${p.rater_b}\u0000${p.rater_a}`, p);
    }
    const table = el("table", { class: "heat", id: "cohen-heat" });
    table.append(el("thead", {}, el("tr", {}, el("th", {}), ...raters.map((r) => el("th", { scope: "col", title: r, text: short(r, 10) })))));
    const body = el("tbody");
    for (const a of raters) {
      const tr = el("tr", {}, el("th", { scope: "row", title: a, text: short(a, 14) }));
      for (const b of raters) {
        if (a === b) { tr.append(el("td", { class: "diag-self", text: "—" })); continue; }
        const p = kappa.get(`${a}\u0000${b}`);
        if (!p || !isNum(p.kappa)) {
          tr.append(el("td", { class: "na", title: p ? `${a} × ${b}: kappa undefined (${p.n_shared} shared clips)` : `${a} × ${b}: fewer than 10 shared clips`, text: p ? "n/a" : "·" }));
          continue;
        }
        const td = el("td", { title: `${a} × ${b}: κ = ${fmt3(p.kappa)} over ${p.n_shared} shared clips (${kappaBand(p.kappa).label})`, text: fmt2(p.kappa), "data-pair": `${a}|${b}` });
        paint(td, p.kappa >= 0 ? TEAL : RED, 0.1 + 0.85 * Math.min(Math.abs(p.kappa), 1));
        tr.append(td);
      }
      body.append(tr);
    }
    table.append(body);
    return el("div", {}, el("div", { class: "table-wrap" }, table),
      el("p", { class: "chart-note", text: "Teal: agreement beyond chance; red: below chance. Hatched: pairs sharing fewer than 10 clips get no kappa. Hover a cell for the number of shared clips." }));
  }

  /* Annotator-vs-annotator confusion: emotions nobody chose are left out (row and column). */
  function confusionHeat(box, categories, matrix) {
    const total = matrix.flat().reduce((s, v) => s + v, 0);
    if (!total) return Charts.mount(box, null, { empty: "No clip with two labels or more yet." });
    const used = Charts.usedRows(matrix);
    const names = used.map((i) => emotionName(categories[i]));
    const values = used.map((i) => used.map((j) => matrix[i][j]));
    let diagMax = 0, offMax = 0;
    values.forEach((row, i) => row.forEach((v, j) => { if (i === j) diagMax = Math.max(diagMax, v); else offMax = Math.max(offMax, v); }));
    const chart = Charts.matrix(box, {
      rows: names, cols: names, values,
      xTitle: "Label given by another annotator", yTitle: "Label given by one annotator",
      shade: (v, i, j) => (v <= 0 ? 0 : 0.15 + 0.8 * (v / (i === j ? diagMax : offMax))),
      tooltip: (d) => `${d.y} × ${d.x}: ${d.v} pair${d.v === 1 ? "" : "s"} of labels`,
      label: "Annotator-vs-annotator confusion matrix",
    });
    box.append(el("p", { class: "chart-note", text: "Every two labels given to the same clip count once in each order. Diagonal (teal): agreement; off the diagonal (orange): the emotions annotators mix up, darker = more often. Emotions nobody chose are left out." }));
    return chart;
  }

  // --- corpus table ----------------------------------------------------------------------------
  function renderCorpusTable(ct, durations) {
    const table = document.getElementById("corpus-table");
    const genders = ct.genders || [];
    const cell = (n, cls = "") => el("td", { class: `num ${cls}${n === 0 ? " zero" : ""}`, text: String(n) });
    table.querySelector("thead").replaceChildren(
      el("tr", {}, el("th", { scope: "col", text: "Emotion" }), ...genders.map((g) => el("th", { scope: "col", class: "num", text: genderName(g) })), el("th", { scope: "col", class: "num total", text: "Total" }))
    );
    table.querySelector("tbody").replaceChildren(
      ...ct.rows.map((r) =>
        el("tr", { "data-emotion": r.emotion }, el("th", { scope: "row", text: emotionName(r.emotion) }), ...genders.map((g) => cell(r[g] ?? 0)), cell(r.total, "total"))
      )
    );
    let foot = table.querySelector("tfoot");
    if (!foot) { foot = el("tfoot"); table.append(foot); }
    foot.replaceChildren(
      el("tr", { "data-row": "totals" }, el("th", { scope: "row", text: "Total" }), ...genders.map((g) => el("td", { class: "num", text: String(ct.totals[g] ?? 0) })), el("td", { class: "num total", "data-total": "all", text: String(ct.totals.total ?? 0) }))
    );
    document.getElementById("corpus-hours").textContent = durations && durations.total_h ? `${fmtDuration(durations.total_h * 3600)} of speech` : "";
  }

  // --- duration histogram (shared with the recording page) ------------------------------------
  function histogram(box, hist) {
    return Charts.durationHistogram(box, hist, { empty: "No clip with a usable consensus yet." });
  }

  // --- consensus status: one stacked bar and its legend ---------------------------------------
  const STATUS = [
    ["agreed", "Agreed"],
    ["adjudicated", "Adjudicated"],
    ["gold", "Gold (imported)"],
    ["needs_adjudication", "Needs adjudication"],
    ["pending", "Escalated, awaiting labels"],
    ["discarded", "Discarded"],
  ];
  function consensusStatus(counts) {
    const total = Object.values(counts || {}).reduce((a, b) => a + b, 0);
    if (!total) return emptyNote("No clip has a consensus yet.");
    const known = STATUS.filter(([k]) => counts[k]);
    const extra = Object.keys(counts).filter((k) => !STATUS.some(([s]) => s === k)).map((k) => [k, k.replace(/_/g, " ")]);
    const rows = [...known, ...extra];
    const bar = el("div", { class: "stacked", role: "img", "aria-label": rows.map(([k, label]) => `${label}: ${counts[k]}`).join(", ") },
      ...rows.map(([k, label]) => el("span", { class: `st-${k}`, style: `width:${(100 * counts[k]) / total}%`, title: `${label}: ${counts[k]} (${pct(counts[k] / total)})` })));
    const legend = el("ul", { class: "legend" },
      ...rows.map(([k, label]) => {
        const text = k === "needs_adjudication" ? el("a", { href: cfg.adjudicationPage, text: label }) : label;
        return el("li", { "data-status": k }, el("span", { class: `swatch st-${k}` }), text, el("strong", { text: String(counts[k]) }));
      }));
    return el("div", {}, bar, legend);
  }

  // --- figures ---------------------------------------------------------------------------------
  function render(d) {
    const empty = !d.n_items;
    root.dataset.state = empty ? "empty" : "ready";
    document.getElementById("empty-state").classList.toggle("hidden", !empty);
    renderHeadline(d);
    const cats = d.categories || [];
    const kBox = document.getElementById("chart-kappa-per-category");
    if (empty) Charts.mount(kBox, null, { empty: "No labels to compare." });
    else kappaPerCategoryChart(kBox, cats, d.fleiss_kappa_per_category || []);
    raterChart(document.getElementById("chart-raters"), d.rater_agreement_with_consensus || []);
    document.getElementById("heat-cohen").replaceChildren(empty ? emptyNote("No labels to compare.") : cohenHeat(d.raters || [], d.cohen_kappa_pairs || []));
    confusionHeat(document.getElementById("heat-confusion"), cats, d.pairwise_confusion || []);
    renderCorpusTable(d.corpus_table, d.durations);
    histogram(document.getElementById("chart-durations"), d.durations);
    document.getElementById("consensus-status").replaceChildren(consensusStatus(d.consensus_status));
  }

  async function loadFigures() {
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    const status = document.getElementById("filter-status");
    status.textContent = "Loading…";
    root.setAttribute("aria-busy", "true");
    const q = filterQuery().toString();
    let res;
    try {
      res = await api(cfg.agreementUrl + (q ? `?${q}` : ""), { signal: controller.signal });
    } catch (err) {
      if (err.name === "AbortError") return; // a newer request replaced this one
      res = { ok: false, status: 0, data: null };
    }
    if (inFlight !== controller) return;
    inFlight = null;
    root.removeAttribute("aria-busy");
    status.textContent = "";
    if (!res.ok) {
      root.dataset.state = "error";
      showMessage((res.data && res.data.detail) || `The figures could not be loaded (${res.status || "network error"}).`);
      return;
    }
    showMessage("");
    render(res.data);
  }

  // --- Dawid–Skene -----------------------------------------------------------------------------
  /* One annotator's Dawid–Skene confusion matrix (rows: true emotion, cells: % of that emotion's
     clips given each label). Emotions that (almost) no clip is (prior < 1 %) are left out: their
     rows hold only the prior guess. The chart is drawn once the card is in the page. */
  function dsCard(a, categories, priors) {
    const low = isNum(a.accuracy) && a.accuracy < 0.5;
    const names = categories.map(emotionName);
    const conf = a.confusion || [];
    const used = conf.map((_, i) => i).filter((i) => !(priors && isNum(priors[i]) && priors[i] < 0.01));
    const holder = el("div", { class: "chart-holder ds-matrix" });
    const card = el("article", { class: `ds-card${low ? " is-low" : ""}`, "data-user": a.user },
      el("div", { class: "ds-head" }, el("span", { class: "name", text: a.user }), el("span", { class: "acc", title: "Estimated accuracy", text: `${pct(a.accuracy, 1)} accurate` })),
      holder);
    card.draw = () => Charts.matrix(holder, {
      rows: names, cols: names.map((n) => n.slice(0, 3)), values: conf, rowIndex: used,
      xTitle: "Label given by the annotator", yTitle: "True emotion (estimated)",
      format: (v) => String(Math.round(v * 100)),
      shade: (v, i, j) => (i === j ? v : Math.min(1, v * 1.6)),
      tooltip: (d) => `true ${names[d.i]} → given ${names[d.j]}: ${pct(d.v, 1)}`,
      empty: "No emotion has clips yet.", label: `Dawid–Skene confusion matrix of ${a.user}`,
    });
    return card;
  }

  async function loadAnnotators() {
    const box = document.getElementById("ds-annotators");
    const priorsNote = document.getElementById("ds-priors");
    const { ok, status, data } = await api(cfg.annotatorsUrl).catch(() => ({ ok: false, status: 0, data: null }));
    if (!ok) {
      box.replaceChildren(emptyNote((data && data.detail) || `The reliability estimates could not be loaded (${status || "network error"}).`));
      return;
    }
    const cats = data.categories || [];
    if (!data.annotators || !data.annotators.length) {
      priorsNote.textContent = "";
      // Below the selector's minimum the estimates would only echo the few labels there are.
      const few = data.n_multi_label_clips != null && data.min_clips != null && data.n_multi_label_clips < data.min_clips;
      box.replaceChildren(emptyNote(few
        ? `Too few labels for reliability estimates: ${plural(data.n_multi_label_clips, "clip")} labelled by 2+ annotators, ${data.min_clips} needed.`
        : "No labels yet."));
      box.dataset.state = few ? "too-few" : "empty";
      return;
    }
    delete box.dataset.state;
    const priors = data.class_priors || [];
    priorsNote.textContent = "Estimated share of each emotion: " + cats.map((c, i) => `${emotionName(c)} ${pct(priors[i])}`).join(" · ") + ". Cells: % of that true emotion's clips; emotions with almost no clip are left out.";
    const sorted = [...data.annotators].sort((a, b) => (a.accuracy ?? 2) - (b.accuracy ?? 2));
    const cards = sorted.map((a) => dsCard(a, cats, priors));
    box.replaceChildren(...cards);
    for (const card of cards) card.draw();
  }

  const recomputeForm = document.getElementById("recompute-form");
  recomputeForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const btn = document.getElementById("recompute");
    const out = document.getElementById("recompute-result");
    const method = recomputeForm.method.value;
    btn.disabled = true;
    btn.textContent = "Recomputing…";
    const { ok, status, data } = await api(cfg.recomputeUrl, { method: "POST", body: { method } }).catch(() => ({ ok: false, status: 0, data: null }));
    btn.disabled = false;
    btn.textContent = "Recompute consensus";
    out.classList.remove("hidden");
    if (!ok) {
      out.className = "recompute-result alert alert-error";
      out.textContent = (data && data.detail) || `The consensus could not be recomputed (${status || "network error"}).`;
      return;
    }
    out.className = "recompute-result alert alert-success";
    const label = data.method === "dawid_skene" ? "Dawid–Skene" : "majority vote";
    const need = data.needs_adjudication ?? 0;
    out.replaceChildren(
      el("strong", { text: `Consensus recomputed with ${label}.` }),
      el("dl", { id: "recompute-summary" },
        el("div", {}, el("dt", { text: "Method" }), el("dd", { "data-key": "method", text: data.method })),
        el("div", {}, el("dt", { text: "Clips" }), el("dd", { "data-key": "clips", text: String(data.clips ?? 0) })),
        el("div", {}, el("dt", { text: "Need adjudication" }), el("dd", { "data-key": "needs_adjudication" }, need ? el("a", { href: cfg.adjudicationPage, text: String(need) }) : "0"))),
    );
    loadFigures();
    loadAnnotators();
  });

  // --- start -----------------------------------------------------------------------------------
  async function loadSchema() {
    const { ok, data } = await api(cfg.schemaUrl).catch(() => ({ ok: false }));
    if (!ok) return; // codes stand in for names
    emotionNames = Object.fromEntries(data.emotions.map((e) => [e.code, e.name]));
    genderNames = Object.fromEntries(data.genders.map((g) => [g.code, g.name]));
  }

  filtersFromAddress();
  loadSchema().then(() => Promise.all([loadFigures(), loadAnnotators()]));
})();
