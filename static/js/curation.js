/* Curator pages: labelling progress (tables, pool figures, a Chart.js bar chart through static/js/charts.js) and rejected clips. */
(function () {
  "use strict";

  const { api, el, fmtDuration, fmtTime } = window.Studio;

  function showMessage(text, kind = "error") {
    const box = document.getElementById("message");
    if (!box) return;
    box.textContent = text;
    box.className = text ? `alert alert-${kind}` : "alert hidden";
  }

  // --- progress ----------------------------------------------------------------------------
  /* Horizontal bars (Charts), one per person: clips labelled. */
  function barChart(holder, rows) {
    return Charts.bars(holder, rows.map((r) => ({ label: String(r.user), value: r.done, user: r.user })), {
      valueTitle: "Clips labelled (count)", categoryTitle: "Annotator", horizontal: true, integer: true,
      tooltip: (r) => `${r.user}: ${r.value} clip${r.value === 1 ? "" : "s"} labelled`,
      label: "Clips done per person", empty: "No labels yet.",
    });
  }

  function peopleRows(tbody, rows, what) {
    if (!rows.length) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "empty", text: `No ${what} yet.` })));
      return;
    }
    tbody.replaceChildren(
      ...rows.map((r) =>
        el("tr", { "data-user": r.user },
          el("td", { class: "name", text: r.user }),
          el("td", { class: "num", text: r.done }),
          el("td", { class: "num", text: r.skipped }),
          el("td", { class: "num", text: `${Math.round(r.skip_rate * 100)} %` }),
          el("td", { class: "num", text: r.median_s_per_clip.toFixed(1) }),
          el("td", { class: "num", text: r.mean_s_per_clip.toFixed(1) }))
      )
    );
  }

  function projectQuery() {
    const project = new URLSearchParams(window.location.search).get("project");
    return project ? `?project=${encodeURIComponent(project)}` : "";
  }

  async function setStanding(root, userId, action) {
    const url = root.dataset.standingUrl.replace(/\/0\/standing\/$/, `/${userId}/standing/`) + projectQuery();
    const { ok, status, data } = await api(url, { method: "POST", body: { action } });
    if (!ok) {
      showMessage((data && data.detail) || `The annotator could not be changed (${status}).`);
      return;
    }
    loadProgress(root);
  }

  /* One row per annotator: checks answered, accuracy and its Wilson interval, standing, actions. */
  function checkRows(root, rows) {
    const tbody = root.querySelector("#check-records tbody");
    if (!rows.length) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "empty", text: "No annotators yet." })));
      return;
    }
    const pct = (x) => `${Math.round(x * 100)} %`;
    tbody.replaceChildren(
      ...rows.map((r) => {
        const state = r.excluded ? "excluded" : r.paused ? "paused" : "active";
        const buttons = [];
        const button = (action, text) =>
          el("button", { type: "button", class: "btn btn-secondary btn-sm", "data-action": action, onclick: () => setStanding(root, r.user_id, action) }, text);
        if (r.paused) buttons.push(button("resume", "Resume"));
        buttons.push(r.excluded ? button("include", "Re-include labels") : button("exclude", "Exclude labels"));
        return el("tr", { "data-user": r.user, "data-state": state },
          el("td", { class: "name", text: r.user }),
          el("td", { class: "num", text: r.checks }),
          el("td", { class: "num", text: r.check_accuracy == null ? "–" : pct(r.check_accuracy) }),
          el("td", { text: r.checks ? `${pct(r.check_low)}–${pct(r.check_high)}` : "–" }),
          el("td", { text: state }),
          el("td", {}, ...buttons));
      })
    );
  }

  async function loadProgress(root) {
    const { ok, status, data } = await api(root.dataset.progressUrl + projectQuery());
    if (!ok) {
      showMessage((data && data.detail) || `The progress could not be loaded (${status}).`);
      return;
    }
    showMessage("");
    const figures = { ...data.pool.clips_by_status, ...data.pool };
    for (const node of root.querySelectorAll("[data-pool]")) {
      node.textContent = String(figures[node.dataset.pool] || 0);
    }
    peopleRows(root.querySelector("#annotators tbody"), data.annotators, "labels");
    peopleRows(root.querySelector("#validators tbody"), data.validators, "votes");
    checkRows(root, data.annotators);
    barChart(root.querySelector("#chart"), data.annotators);
    root.dataset.loaded = "true";
  }

  const progressRoot = document.getElementById("progress-page");
  if (progressRoot) {
    document.getElementById("refresh").addEventListener("click", () => loadProgress(progressRoot));
    loadProgress(progressRoot);
  }

  // --- rejected clips ----------------------------------------------------------------------
  function initRejected(root) {
    const audio = document.getElementById("clip-audio");
    const tbody = root.querySelector("#rejected tbody");
    const count = document.getElementById("rejected-count");
    let playing = null; // the <tr> whose clip plays

    function stop() {
      if (!playing) return;
      playing.classList.remove("is-playing");
      const b = playing.querySelector("[data-play]");
      b.textContent = "▶";
      b.setAttribute("aria-label", "Play the clip");
      playing = null;
    }
    audio.addEventListener("ended", stop);

    function toggle(row, url) {
      const same = playing === row;
      audio.pause();
      stop();
      if (same) return;
      playing = row;
      row.classList.add("is-playing");
      const b = row.querySelector("[data-play]");
      b.textContent = "❚❚";
      b.setAttribute("aria-label", "Stop");
      audio.src = url;
      audio.play().catch(() => stop());
    }

    // The list is paged on the server (GET /api/validation/rejected/?page=&search=&reason=...).
    const PAGE_SIZE = 50;
    const searchForm = document.getElementById("rejected-search");
    let total = 0;
    const FILTERS = ["search", "reason"];
    let page = 1;
    const drawPager = window.StudioPager.pager(document.getElementById("rejected-pager"), { what: "rejected clips", one: "rejected clip", onPage: (n) => load(n) });

    function showCount() {
      const n = tbody.querySelectorAll("tr[data-clip]").length;
      count.textContent = `${total} rejected`;
      if (!n) tbody.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "empty", text: total ? "No more on this page." : searchForm.elements.search.value.trim() || searchForm.elements.reason.value ? "No rejected clip matches." : "No rejected clips." })));
    }

    async function accept(row, clip) {
      const button = row.querySelector("[data-accept]");
      const note = row.querySelector("input.note");
      button.disabled = true;
      const { ok, status, data } = await api(root.dataset.decisionUrl, { method: "POST", body: { clip: clip.clip, accept: true, note: note.value.trim() } });
      if (!ok) {
        button.disabled = false;
        showMessage((data && data.detail) || `Clip #${clip.clip} could not be accepted (${status}).`);
        return;
      }
      if (playing === row) audio.pause();
      row.remove();
      total -= 1;
      showMessage(`Clip #${clip.clip} accepted: it is in the labelling pool now.`, "success");
      showCount();
      // The pager and the page's rows come from the server again, so that "1–4 of 4" does not
      // outlive the clip; a page emptied by the accept falls back to the one before it.
      await load(tbody.querySelector("tr[data-clip]") || page === 1 ? page : page - 1);
    }

    function row(clip) {
      const tr = el("tr", { "data-clip": clip.clip });
      const votes = clip.votes.length
        ? el("ul", { class: "votes" }, ...clip.votes.map((v) =>
            el("li", {}, el("span", { class: "who", text: v.validator }), ": ",
              v.accept ? el("span", { class: "badge badge-accepted", text: "accept" }) : v.reasons.join("; ") || "reject")))
        : el("span", { class: "muted small", text: "decided by a curator" });
      const recUrl = root.dataset.recordingUrl.replace(/0\/$/, `${clip.recording}/`);
      tr.append(
        el("td", {}, el("div", { class: "row-actions" },
          el("button", { type: "button", class: "btn btn-icon btn-secondary", "data-play": "", "aria-label": "Play the clip", text: "▶", onclick: () => toggle(tr, clip.audio_url) }),
          el("span", { class: "mono", text: `#${clip.clip}` }))),
        el("td", {}, el("a", { href: recUrl, text: `Recording #${clip.recording}` })),
        el("td", { class: "num mono", text: fmtTime(clip.start_s) }),
        el("td", { class: "num", text: fmtDuration(clip.duration_s) }),
        el("td", {}, votes),
        el("td", {}, el("div", { class: "row-actions overturn" },
          el("input", { type: "text", class: "note", placeholder: "Note (optional)", "aria-label": `Note on clip ${clip.clip}`, maxlength: 2000 }),
          el("button", { type: "button", class: "btn btn-sm", "data-accept": "", text: "Accept anyway", onclick: () => accept(tr, clip) })))
      );
      return tr;
    }

    async function load(n = 1) {
      const params = Object.fromEntries(FILTERS.map((name) => [name, searchForm.elements[name].value.trim()]));
      const url = window.StudioPager.listUrl(root.dataset.rejectedUrl, n, PAGE_SIZE, params);
      const { ok, status, data } = await api(url);
      if (!ok) {
        showMessage((data && data.detail) || `The rejected clips could not be loaded (${status}).`);
        return;
      }
      page = n;
      total = data.count;
      window.StudioPager.writeFilters(searchForm, FILTERS, page);
      tbody.replaceChildren(...data.results.map(row));
      showCount();
      drawPager(data, page, PAGE_SIZE);
      root.dataset.loaded = "true";
    }

    searchForm.addEventListener("submit", (event) => {
      event.preventDefault();
      load(1);
    });
    load(window.StudioPager.readFilters(searchForm, FILTERS));
  }

  const rejectedRoot = document.getElementById("rejected-page");
  if (rejectedRoot) initRejected(rejectedRoot);
})();
