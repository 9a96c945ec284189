/* Agreement dashboard (curators): headline figures, charts (inline SVG) and heat-map tables of
   GET /api/agreement/, refetched when the filters change; Dawid–Skene reliability per annotator
   and "Recompute consensus". */
(function () {
  "use strict";
  const { api, el, fmtDuration, svg, durationHistogram } = window.Studio;

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
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
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
    else label.textContent = `${chosen.length} sources`;
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
    setFig("krippendorff_alpha", fmt3(d.krippendorff_alpha));
    setFig("unanimous", pct(levels.unanimous));
    setMeter("unanimous", levels.unanimous);
    setFig("unanimous_hint", levels.n_items ? `${levels.n_unanimous} of ${levels.n_items} clips unanimous` : "No clip with 2+ labels");
    setFig("at_least_two", pct(levels.at_least_two));
    setMeter("at_least_two", levels.at_least_two);
    setFig("at_least_two_hint", levels.n_items ? `${levels.n_at_least_two} of ${levels.n_items} · ${levels.n_none} with no majority` : "No clip with 2+ labels");
    setFig("n_items", String(d.n_items ?? 0));
    setFig("n_votes_hint", plural(d.n_votes ?? 0, "label"));
    setFig("n_raters", String(d.n_raters ?? 0));
    const low = (d.rater_agreement_with_consensus || []).filter((r) => isNum(r.agreement) && r.agreement < 0.5).length;
    setFig("raters_hint", low ? `${low} below 0.5 agreement` : d.n_raters ? "none below 0.5 agreement" : " ");
  }

  // --- Fleiss' kappa per emotion: vertical bars on Landis & Koch bands ------------------------
  function kappaPerCategoryChart(categories, values) {
    const W = 560, H = 250, m = { top: 20, right: 92, bottom: 34, left: 40 };
    const iw = W - m.left - m.right, ih = H - m.top - m.bottom;
    const known = values.filter(isNum);
    const lo = Math.max(-1, Math.min(0, Math.floor(Math.min(0, ...known) * 5) / 5));
    const y = (v) => m.top + ((1 - v) / (1 - lo)) * ih;
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": "Fleiss' kappa per emotion" });
    // Grid every 0.2, with the band names between the lines on the right.
    for (let v = lo; v <= 1.0001; v += 0.2) {
      const r = Math.round(v * 10) / 10;
      chart.append(svg("line", { x1: m.left, x2: m.left + iw, y1: y(r), y2: y(r), class: r === 0 ? "zero-line" : "grid-line" }));
      chart.append(svg("text", { x: m.left - 6, y: y(r) + 4, "text-anchor": "end" }, r.toFixed(1)));
    }
    const bandRanges = [[lo, 0, "poor"], [0, 0.2, "slight"], [0.2, 0.4, "fair"], [0.4, 0.6, "moderate"], [0.6, 0.8, "substantial"], [0.8, 1, "almost perfect"]];
    for (const [a, b, name] of bandRanges) {
      if (b <= a) continue;
      chart.append(svg("text", { x: m.left + iw + 8, y: (y(a) + y(b)) / 2 + 3, class: "band-label" }, name));
    }
    const bw = iw / Math.max(categories.length, 1);
    categories.forEach((code, i) => {
      const cx = m.left + bw * i + bw / 2;
      const v = values[i];
      const name = emotionName(code);
      if (isNum(v)) {
        const band = kappaBand(v);
        const top = y(Math.max(v, 0)), bottom = y(Math.min(v, 0));
        const rect = svg("rect", { x: cx - bw * 0.31, y: top, width: bw * 0.62, height: Math.max(bottom - top, 1), rx: 3, class: `band-${band.key}`, "data-category": code });
        rect.append(svg("title", {}, `${name}: κ = ${fmt3(v)} (${band.label})`));
        chart.append(rect);
        chart.append(svg("text", { x: cx, y: v >= 0 ? top - 5 : bottom + 12, "text-anchor": "middle", class: "value" }, fmt2(v)));
      } else {
        const g = svg("g", { "data-na": code });
        g.append(svg("title", {}, `${name}: not defined (no label of this emotion, or nothing else)`));
        g.append(svg("text", { x: cx, y: y(0) - 6, "text-anchor": "middle", class: "na" }, "n/a"));
        chart.append(g);
      }
      chart.append(svg("text", { x: cx, y: H - m.bottom + 16, "text-anchor": "middle" }, short(name, 11)));
    });
    chart.append(svg("line", { x1: m.left, x2: m.left, y1: m.top, y2: m.top + ih, class: "axis" }));
    return chart;
  }

  // --- agreement with the consensus: horizontal bars, lowest first ----------------------------
  function raterChart(rows) {
    const sorted = [...rows].sort((a, b) => (isNum(a.agreement) ? a.agreement : 2) - (isNum(b.agreement) ? b.agreement : 2) || String(a.rater).localeCompare(String(b.rater)));
    const W = 560, rowH = 26, m = { top: 22, right: 104, bottom: 6, left: 124 };
    const H = m.top + sorted.length * rowH + m.bottom;
    const iw = W - m.left - m.right;
    const x = (v) => m.left + v * iw;
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": "Each annotator's agreement with the consensus" });
    for (const t of [0, 0.25, 0.5, 0.75, 1]) {
      chart.append(svg("line", { x1: x(t), x2: x(t), y1: m.top - 4, y2: H - m.bottom, class: "grid-line" }));
      chart.append(svg("text", { x: x(t), y: m.top - 9, "text-anchor": "middle" }, t === 0.5 ? "0.5" : String(t)));
    }
    sorted.forEach((r, i) => {
      const yy = m.top + i * rowH;
      const name = String(r.rater);
      const low = isNum(r.agreement) && r.agreement < 0.5;
      chart.append(svg("text", { x: m.left - 8, y: yy + rowH / 2 + 4, "text-anchor": "end", class: low ? "low" : "" }, short(name, 18)));
      if (isNum(r.agreement)) {
        const w = Math.max(r.agreement * iw, 1.5);
        const bar = svg("rect", { x: m.left, y: yy + 5, width: w, height: rowH - 10, rx: 3, class: low ? "bar bar-low" : "bar", "data-rater": name, "data-low": low ? "true" : "false" });
        bar.append(svg("title", {}, `${name}: ${pct(r.agreement, 1)} of ${r.n_compared} labels equal the consensus`));
        chart.append(bar);
        // One text node, so that the count never overlaps the share whatever the font size.
        const label = svg("text", { x: m.left + w + 6, y: yy + rowH / 2 + 4, class: low ? "low" : "value" }, pct(r.agreement));
        label.append(svg("tspan", { class: "n", dx: 5 }, `n=${r.n_compared}`));
        chart.append(label);
      } else {
        chart.append(svg("text", { x: m.left + 6, y: yy + rowH / 2 + 4, class: "na" }, "n/a (no clip with a consensus)"));
      }
    });
    chart.append(svg("line", { x1: x(0.5), x2: x(0.5), y1: m.top - 4, y2: H - m.bottom, class: "threshold" }));
    chart.append(svg("line", { x1: m.left, x2: m.left, y1: m.top - 4, y2: H - m.bottom, class: "axis" }));
    return chart;
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

  function confusionHeat(categories, matrix) {
    const total = matrix.flat().reduce((s, v) => s + v, 0);
    if (!total) return emptyNote("No clip with two labels or more yet.");
    let diagMax = 0, offMax = 0;
    matrix.forEach((row, i) => row.forEach((v, j) => { if (i === j) diagMax = Math.max(diagMax, v); else offMax = Math.max(offMax, v); }));
    const names = categories.map(emotionName);
    const table = el("table", { class: "heat", id: "confusion-heat" });
    table.append(el("thead", {}, el("tr", {}, el("th", {}, el("span", { class: "axis-title", text: "one ╲ other" })), ...names.map((n) => el("th", { scope: "col", title: n, text: short(n, 8) })))));
    const body = el("tbody");
    matrix.forEach((row, i) => {
      const tr = el("tr", {}, el("th", { scope: "row", text: names[i] }));
      row.forEach((v, j) => {
        const td = el("td", { title: `${names[i]} × ${names[j]}: ${v} pair${v === 1 ? "" : "s"} of labels`, text: String(v) });
        if (v > 0) {
          if (i === j) paint(td, TEAL, 0.15 + 0.8 * (v / diagMax));
          else paint(td, ORANGE, 0.15 + 0.8 * (v / offMax));
        } else {
          td.classList.add("zero");
          td.style.color = "#c0c6cf";
        }
        tr.append(td);
      });
      body.append(tr);
    });
    table.append(body);
    return el("div", {}, el("div", { class: "table-wrap" }, table),
      el("p", { class: "chart-note", text: "Every two labels given to the same clip count once in each order. Diagonal (teal): agreement; off the diagonal (orange): the emotions annotators mix up, darker = more often." }));
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
  function histogram(hist) {
    return durationHistogram(hist) || emptyNote("No clip with a usable consensus yet.");
  }

  // --- consensus status: one stacked bar and its legend ---------------------------------------
  const STATUS = [
    ["agreed", "Agreed"],
    ["adjudicated", "Adjudicated"],
    ["gold", "Gold (imported)"],
    ["needs_adjudication", "Needs adjudication"],
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
    kBox.replaceChildren(empty ? emptyNote("No labels to compare.") : kappaPerCategoryChart(cats, d.fleiss_kappa_per_category || []));
    const rBox = document.getElementById("chart-raters");
    const raters = d.rater_agreement_with_consensus || [];
    rBox.replaceChildren(raters.length ? raterChart(raters) : emptyNote("No annotator has labels here."));
    document.getElementById("heat-cohen").replaceChildren(empty ? emptyNote("No labels to compare.") : cohenHeat(d.raters || [], d.cohen_kappa_pairs || []));
    document.getElementById("heat-confusion").replaceChildren(confusionHeat(cats, d.pairwise_confusion || []));
    renderCorpusTable(d.corpus_table, d.durations);
    document.getElementById("chart-durations").replaceChildren(histogram(d.durations));
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
  function dsCard(a, categories, priors) {
    const low = isNum(a.accuracy) && a.accuracy < 0.5;
    const names = categories.map(emotionName);
    const abbr = names.map((n) => n.slice(0, 3));
    const table = el("table", { class: "heat" });
    table.append(el("thead", {}, el("tr", {}, el("th", {}, el("span", { class: "axis-title", text: "true ╲ given" })), ...abbr.map((n, j) => el("th", { scope: "col", title: names[j], text: n })))));
    const body = el("tbody");
    (a.confusion || []).forEach((row, i) => {
      // A class with (almost) no clip leaves its row at the prior guess: dim it, do not hide it.
      const faint = priors && isNum(priors[i]) && priors[i] < 0.01;
      const tr = el("tr", { style: faint ? "opacity:0.4" : null, title: faint ? `Almost no clip is ${names[i]}: this row is a guess` : null },
        el("th", { scope: "row", title: names[i], text: abbr[i] }));
      row.forEach((v, j) => {
        const td = el("td", { title: `true ${names[i]} → given ${names[j]}: ${pct(v, 1)}`, text: String(Math.round(v * 100)) });
        paint(td, i === j ? TEAL : ORANGE, i === j ? v : Math.min(1, v * 1.6));
        tr.append(td);
      });
      body.append(tr);
    });
    table.append(body);
    return el("article", { class: `ds-card${low ? " is-low" : ""}`, "data-user": a.user },
      el("div", { class: "ds-head" }, el("span", { class: "name", text: a.user }), el("span", { class: "acc", title: "Estimated accuracy", text: `${pct(a.accuracy, 1)} accurate` })),
      el("div", { class: "table-wrap" }, table));
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
      box.replaceChildren(emptyNote("No labels yet."));
      return;
    }
    const priors = data.class_priors || [];
    priorsNote.textContent = "Estimated share of each emotion: " + cats.map((c, i) => `${emotionName(c)} ${pct(priors[i])}`).join(" · ") + ". Cells: % of that true emotion's clips.";
    const sorted = [...data.annotators].sort((a, b) => (a.accuracy ?? 2) - (b.accuracy ?? 2));
    box.replaceChildren(...sorted.map((a) => dsCard(a, cats, priors)));
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
