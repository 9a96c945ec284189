/* Releases (curators): the build form (POST /api/releases/, errors shown at their fields), the
   list of releases with their split x label counts, and exports polled every second until the
   archive is ready. */
(function () {
  "use strict";
  const { api, el, fmtBytes, fmtDuration, progressBar, setProgress } = window.Studio;

  const root = document.getElementById("releases-page");
  if (!root) return;
  const cfg = root.dataset;
  const form = document.getElementById("build-form");
  const POLL_MS = 1000;
  const PRIMARY = ["happy", "sad", "angry", "neutral"];
  const SPLITS = ["train", "validation", "test"];
  const withId = (url, id) => url.replace("/0/", `/${id}/`); // URLs reversed with pk 0

  let emotions = [];
  const polling = new Map(); // export id -> timer

  const BALANCING_HELP = {
    none: "Every clip that passes the filters; the classes stay as (un)balanced as the corpus.",
    undersample: "Each split cut down to its smallest class: every split exactly balanced, as TuniSER did.",
    cap: "At most this many clips per class; smaller classes are kept whole.",
    oversample: "Every clip, plus augmented copies of the smaller classes in train only (never in validation or test).",
    harmonic: "Each class cut to the harmonic mean of the class sizes: milder than undersampling.",
  };

  const nameOf = (code) => (emotions.find((e) => e.code === code) || {}).name || code;

  function alertBox(box, text, kind = "error") {
    box.textContent = text || "";
    box.className = text ? `alert alert-${kind}` : "alert hidden";
  }

  // --- the form --------------------------------------------------------------------------------
  function buildLabelSet() {
    const holder = document.getElementById("label-set");
    holder.replaceChildren(
      ...emotions.map((e) =>
        el("label", { title: e.description || "" },
          el("input", { type: "checkbox", name: "label_set", value: e.code, checked: PRIMARY.includes(e.code) }),
          e.name, e.tier && e.tier !== "primary" ? el("span", { class: "tier", text: e.tier }) : null))
    );
  }
  function setLabels(codes) {
    for (const box of form.querySelectorAll("input[name=label_set]")) box.checked = codes === "all" || codes.includes(box.value);
  }
  document.getElementById("labels-primary").addEventListener("click", () => setLabels(PRIMARY));
  document.getElementById("labels-all").addEventListener("click", () => setLabels("all"));

  function syncForm() {
    const balancing = form.balancing.value;
    document.getElementById("balancing-help").textContent = BALANCING_HELP[balancing] || "";
    form.querySelector('[data-field="cap"]').classList.toggle("hidden", balancing !== "cap");
    const custom = form.split_choice.value === "custom";
    const customInput = document.getElementById("split-custom");
    customInput.classList.toggle("hidden", !custom);
    if (custom && document.activeElement === form.split_choice) customInput.focus();
    const kfold = form.split_kind.value === "kfold";
    form.querySelector('[data-field="folds"]').classList.toggle("hidden", !kfold);
    form.querySelector('[data-field="split"]').classList.toggle("hidden", kfold);
  }
  form.split_kind.addEventListener("change", syncForm);
  form.balancing.addEventListener("change", syncForm);
  form.split_choice.addEventListener("change", syncForm);

  // Sources: a drop-down of checkboxes.
  const sources = document.getElementById("sources");
  const sourceBoxes = () => [...form.querySelectorAll("input[name=sources]")];
  function updateSourcesSummary() {
    const chosen = sourceBoxes().filter((b) => b.checked);
    document.getElementById("sources-summary").textContent =
      !chosen.length ? "All sources" : chosen.length === 1 ? chosen[0].parentElement.textContent.trim() : `${chosen.length} sources`;
  }
  sources.addEventListener("change", updateSourcesSummary);
  const clearBtn = sources.querySelector(".multi-clear");
  if (clearBtn) clearBtn.addEventListener("click", () => { for (const b of sourceBoxes()) b.checked = false; updateSourcesSummary(); });
  document.addEventListener("click", (e) => { if (sources.open && !sources.contains(e.target)) sources.open = false; });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && sources.open) { sources.open = false; sources.querySelector("summary").focus(); } });

  function formBody() {
    const body = {
      name: form.name.value.trim(),
      label_set: [...form.querySelectorAll("input[name=label_set]:checked")].map((b) => b.value),
      min_agreement: parseInt(form.min_agreement.value, 10),
      include_adjudicated: form.include_adjudicated.checked,
      include_gold: form.include_gold.checked,
      balancing: form.balancing.value,
      split: form.split_choice.value === "custom" ? document.getElementById("split-custom").value.trim() : form.split_choice.value,
      group_by: form.group_by.value,
      split_kind: form.split_kind.value,
    };
    if (body.split_kind === "kfold") {
      const folds = form.folds.value.trim();
      body.folds = folds === "" ? null : Number(folds); // the server says what is wrong with it
    }
    if (body.balancing === "cap") {
      const cap = form.cap.value.trim();
      body.cap = cap === "" ? null : Number(cap); // the server says what is wrong with it
    }
    if (form.seed.value.trim() !== "") body.seed = Number(form.seed.value);
    const chosen = sourceBoxes().filter((b) => b.checked).map((b) => parseInt(b.value, 10));
    if (chosen.length) body.sources = chosen;
    return body;
  }

  function clearErrors() {
    for (const node of form.querySelectorAll(".field-error")) node.remove();
    for (const node of form.querySelectorAll(".has-error")) node.classList.remove("has-error");
    for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
    alertBox(document.getElementById("form-message"), "");
  }

  /* DRF gives a list of messages per field (or a dict for list items); show them under it. */
  function fieldMessages(value) {
    if (Array.isArray(value)) return value.flatMap(fieldMessages);
    if (value && typeof value === "object") return Object.entries(value).map(([k, v]) => `${Number.isNaN(Number(k)) ? k + ": " : ""}${fieldMessages(v).join(" ")}`);
    return value == null ? [] : [String(value)];
  }

  function showErrors(data, status) {
    const box = document.getElementById("form-message");
    let first = null;
    let placed = 0;
    for (const [key, value] of Object.entries(data || {})) {
      if (key === "detail" || key === "errors" || key === "code") continue;
      const field = form.querySelector(`[data-field="${key}"]`);
      if (!field) continue;
      field.classList.remove("hidden");
      const container = field.classList.contains("field") ? field : field.closest(".field");
      container.classList.add("has-error");
      const control = field.querySelector("input:not([type=checkbox]), select") || field.querySelector("input");
      const id = `${key}-error`;
      if (control) {
        control.setAttribute("aria-invalid", "true");
        control.setAttribute("aria-describedby", [control.getAttribute("aria-describedby"), id].filter(Boolean).join(" "));
      }
      field.append(el("p", { class: "field-error", id, "data-error-for": key, text: fieldMessages(value).join(" ") }));
      first = first || control;
      placed += 1;
    }
    const detail = (data && data.detail) || `The release could not be built (${status || "network error"}).`;
    alertBox(box, placed ? `Check the field${placed === 1 ? "" : "s"} marked in red. ${detail}` : detail);
    if (first) first.focus();
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    const btn = document.getElementById("build");
    const status = document.getElementById("build-status");
    btn.disabled = true;
    status.textContent = "Building: choosing, balancing and splitting the clips…";
    const { ok, status: code, data } = await api(cfg.releasesUrl, { method: "POST", body: formBody() }).catch(() => ({ ok: false, status: 0, data: null }));
    btn.disabled = false;
    status.textContent = "";
    if (!ok) {
      showErrors(data, code);
      return;
    }
    alertBox(document.getElementById("form-message"), `Built ${data.name} v${data.version}: ${window.Studio.plural(data.n_items, "item")}.`, "success");
    const list = document.getElementById("release-list");
    list.querySelector(".empty")?.remove();
    const card = releaseCard(data);
    card.classList.add("is-new");
    list.prepend(card);
    total += 1;
    updateCount();
    if (lastList) drawPager({ ...lastList.data, count: total }, lastList.page, PAGE_SIZE); // the new one counts
    card.scrollIntoView({ block: "nearest", behavior: "smooth" });
  });

  // --- the list --------------------------------------------------------------------------------
  function paramBadges(p) {
    const badges = [];
    const add = (text, title) => badges.push(el("span", { class: "badge", title: title || null, text }));
    add((p.label_set || []).map(nameOf).join(" · ") || "–", "Labels");
    add(p.min_agreement >= 3 ? "3/3 only" : `≥ ${p.min_agreement}/3`, "Minimum agreement");
    add(p.balancing === "cap" ? `cap ${p.cap}` : p.balancing, "Balancing");
    if (p.split_kind === "kfold") add(p.folds ? `${p.folds} folds` : "leave one out", "Cross-validation folds, grouped");
    else add(`split ${p.split}`, "Train / validation / test");
    add(`by ${p.group_by}`, "Groups kept in one split");
    add(`seed ${p.seed}`);
    if (p.include_adjudicated) add("+ adjudicated");
    if (p.include_gold) add("+ gold");
    if (p.sources && p.sources.length) add(`${p.sources.length} source${p.sources.length === 1 ? "" : "s"}`);
    return badges;
  }

  function countsTable(release) {
    const counts = release.counts || {};
    const splits = [...SPLITS.filter((s) => counts[s]), ...Object.keys(counts).filter((s) => !SPLITS.includes(s) && s !== "augmented_copies" && counts[s] && counts[s].labels)];
    const seen = new Set();
    for (const s of splits) for (const l of Object.keys(counts[s].labels || {})) seen.add(l);
    const labels = [...(release.params.label_set || []).filter((l) => seen.has(l)), ...[...seen].filter((l) => !(release.params.label_set || []).includes(l)).sort()];
    const head = el("tr", {}, el("th", { scope: "col", text: "Split" }), ...labels.map((l) => el("th", { scope: "col", class: "num", text: nameOf(l) })),
      el("th", { scope: "col", class: "num total", text: "Items" }), el("th", { scope: "col", class: "num", text: "Groups" }), el("th", { scope: "col", class: "num", text: "Duration" }));
    const rows = splits.map((s) => {
      const c = counts[s];
      return el("tr", { "data-split": s }, el("th", { scope: "row", text: s }),
        ...labels.map((l) => {
          const cell = (c.labels || {})[l];
          if (!cell) return el("td", { class: "num zero", text: "0" });
          const genders = Object.entries(cell.genders || {}).map(([g, n]) => `${g} ${n}`).join(", ");
          return el("td", { class: "num", "data-label": l, title: genders ? `${nameOf(l)} in ${s}: ${genders}` : null }, String(cell.items), el("span", { class: "share", text: `${Math.round(cell.share * 100)} %` }));
        }),
        el("td", { class: "num total", text: String(c.items) }), el("td", { class: "num", text: String(c.groups) }), el("td", { class: "num", text: fmtDuration(c.duration_s) }));
    });
    const sum = (f) => splits.reduce((a, s) => a + f(counts[s]), 0);
    const foot = [el("tr", {}, el("th", { scope: "row", text: "Total" }), ...labels.map((l) => el("td", { class: "num", text: String(sum((c) => ((c.labels || {})[l] || {}).items || 0)) })),
      el("td", { class: "num total", text: String(sum((c) => c.items || 0)) }), el("td", { class: "num", text: String(sum((c) => c.groups || 0)) }), el("td", { class: "num", text: fmtDuration(sum((c) => c.duration_s || 0)) }))];
    if (counts.augmented_copies) {
      const aug = counts.augmented_copies;
      rows.push(el("tr", { class: "aug" }, el("th", { scope: "row", text: "+ augmented (train)" }), ...labels.map((l) => el("td", { class: "num", text: String(aug[l] || 0) })),
        el("td", { class: "num total", text: String(Object.values(aug).reduce((a, b) => a + b, 0)) }), el("td", {}), el("td", {})));
    }
    return el("div", { class: "table-wrap" }, el("table", { class: "table counts-table" }, el("thead", {}, head), el("tbody", {}, ...rows), el("tfoot", {}, ...foot)));
  }

  function releaseCard(r) {
    const created = r.created_at ? new Date(r.created_at) : null;
    const exportBtn = el("button", { type: "button", class: "btn btn-secondary export-btn", "data-release": r.id }, "Export archive");
    const exportBox = el("div", { class: "export", "aria-live": "polite" });
    const card = el("article", { class: "card release", "data-release": r.id, "data-name": r.name, "data-version": r.version },
      el("div", { class: "release-head" },
        el("div", {},
          el("h3", {}, r.name, el("span", { class: "version", text: `v${r.version}` })),
          el("div", { class: "release-meta" },
            el("span", {}, el("strong", { text: String(r.n_items) }), " items"),
            el("span", {}, "sha256 ", el("code", { class: "checksum", title: r.checksum, "data-checksum": r.checksum, text: (r.checksum || "").slice(0, 12) })),
            created ? el("span", { title: r.created_at, text: `built ${created.toLocaleString()}` }) : null,
            r.platform_version ? el("span", { text: `platform ${r.platform_version}` }) : null,
            r.manifest_url ? el("a", { href: r.manifest_url, text: "manifest.jsonl" }) : null)),
        exportBtn),
      el("div", { class: "params" }, ...paramBadges(r.params || {})),
      countsTable(r),
      exportBox);
    exportBtn.addEventListener("click", () => startExport(r, exportBtn, exportBox));
    const latest = (r.exports || [])[0];
    if (latest) {
      showExport(r, latest, exportBtn, exportBox);
      if (latest.status === "queued" || latest.status === "running") poll(r, latest.id, exportBtn, exportBox);
    }
    return card;
  }

  // The list is paged on the server (GET /api/releases/?page=&page_size=&search=&status=).
  const PAGE_SIZE = 20;
  let total = 0;
  let lastList = null; // {data, page}: the page drawn last, redrawn when a build adds a release
  const searchForm = document.getElementById("release-search");
  const FILTERS = ["search", "status"];
  const drawPager = window.StudioPager.pager(document.getElementById("release-pager"), { what: "releases", one: "release", onPage: (n) => loadReleases(n) });

  function updateCount() {
    document.getElementById("release-count").textContent = total ? `${total} release${total === 1 ? "" : "s"}` : "";
  }

  async function loadReleases(page = 1) {
    const list = document.getElementById("release-list");
    const params = Object.fromEntries(FILTERS.map((name) => [name, searchForm.elements[name].value.trim()]));
    const url = window.StudioPager.listUrl(cfg.releasesUrl, page, PAGE_SIZE, params);
    const { ok, status, data } = await api(url).catch(() => ({ ok: false, status: 0, data: null }));
    if (!ok) {
      list.replaceChildren();
      alertBox(document.getElementById("list-message"), (data && data.detail) || `The releases could not be loaded (${status || "network error"}).`);
      return;
    }
    document.getElementById("list-message").classList.add("hidden");
    const filtered = Boolean(params.search || params.status);
    const empty = filtered ? "No release matches." : "No release yet: build the first one above.";
    list.replaceChildren(...(data.results.length ? data.results.map(releaseCard) : [el("p", { class: "empty card", text: empty })]));
    total = data.count;
    window.StudioPager.writeFilters(searchForm, FILTERS, page);
    updateCount();
    drawPager(data, page, PAGE_SIZE);
    lastList = { data, page };
    root.dataset.loaded = "true";
  }

  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    loadReleases(1);
  });

  // --- exports ---------------------------------------------------------------------------------
  function showExport(release, exp, btn, box) {
    const running = exp.status === "queued" || exp.status === "running";
    btn.disabled = running;
    let bar = box.querySelector(".progress");
    if (!bar) bar = progressBar(`Export of ${release.name} v${release.version}`);
    setProgress(bar, exp.status === "succeeded" ? 1 : exp.progress, { done: exp.status === "succeeded", failed: exp.status === "failed", indeterminate: exp.status === "queued" });
    const badge = el("span", { class: `badge badge-${exp.status}`, "data-export-status": exp.status, text: exp.status });
    const row = el("div", { class: "export-row", "data-export": exp.id }, el("span", { class: "small muted", text: `Export #${exp.id}` }), badge);
    if (running) {
      row.append(bar, el("span", { class: "progress-label", text: exp.status === "queued" ? "waiting for a worker…" : `${Math.round((exp.progress || 0) * 100)} %` }));
    } else if (exp.status === "succeeded") {
      row.append(el("a", { class: "download", href: exp.archive_url || "#", download: "", text: `Download ${release.name}-v${release.version}.zip` }),
        el("span", { class: "muted small", "data-bytes-shown": exp.size_bytes ?? "", text: fmtBytes(exp.size_bytes) }));
    } else if (exp.status === "failed") {
      row.append(el("span", { class: "small error-text", text: exp.error || "The export failed." }));
    }
    box.replaceChildren(row);
  }

  async function startExport(release, btn, box) {
    btn.disabled = true;
    const { ok, status, data } = await api(withId(cfg.exportUrl, release.id), { method: "POST" }).catch(() => ({ ok: false, status: 0, data: null }));
    if (!ok) {
      btn.disabled = false;
      box.replaceChildren(el("p", { class: "small error-text", text: (data && data.detail) || `The export could not be started (${status || "network error"}).` }));
      return;
    }
    showExport(release, data, btn, box);
    if (data.status === "queued" || data.status === "running") poll(release, data.id, btn, box);
  }

  function poll(release, exportId, btn, box) {
    clearTimeout(polling.get(exportId));
    const tick = async () => {
      const { ok, data } = await api(withId(cfg.exportDetailUrl, exportId)).catch(() => ({ ok: false }));
      if (ok) {
        showExport(release, data, btn, box);
        if (data.status === "succeeded" || data.status === "failed") {
          polling.delete(exportId);
          return;
        }
      }
      polling.set(exportId, setTimeout(tick, POLL_MS)); // a network hiccup: try again
    };
    polling.set(exportId, setTimeout(tick, POLL_MS));
  }

  // --- start -----------------------------------------------------------------------------------
  async function start() {
    syncForm();
    const { ok, data } = await api(cfg.schemaUrl).catch(() => ({ ok: false }));
    if (ok) {
      emotions = data.emotions || [];
      buildLabelSet();
    } else {
      document.getElementById("label-set").replaceChildren(el("span", { class: "error-text small", text: "The labels could not be loaded." }));
    }
    await loadReleases(window.StudioPager.readFilters(searchForm, FILTERS));
  }

  start();
})();
