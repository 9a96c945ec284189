/* Adjudication (curators): one tied clip at a time, decided from the keyboard.
   Space plays, 1–7 choose the emotion, M/F the gender, Enter decides; B sends the clip back to
   validation, D twice discards it. GET /api/adjudication/, POST /api/adjudication/decisions/.
   A shortcut that cannot act (no clip, the queue loading, a decision being saved) says why; that
   hint goes at the next key that acts, or after a few seconds. */
(function () {
  "use strict";
  const { api, el, messageBox, isShortcutKey } = window.Studio;

  const root = document.getElementById("adjudication-page");
  if (!root) return;
  const cfg = root.dataset;
  const QUEUE_LIMIT = 100; // the API returns at most this many clips at once
  const ARM_MS = 4000; // a first D arms the discard for this long

  const audio = document.getElementById("clip-audio");
  const playBtn = document.getElementById("play");
  const note = document.getElementById("note");
  const discardBtn = document.getElementById("discard");

  let emotions = [];
  let genders = [];
  let queue = [];
  let more = false; // the server may hold more clips than it sent
  let chosen = { emotion: null, gender: null };
  let busy = false;
  let armTimer = null;

  const nameOf = (list, code) => (list.find((o) => o.code === code) || {}).name || code || "–";

  const msg = messageBox(document.getElementById("message"));
  const showMessage = msg.show;

  function setView(view) {
    root.dataset.state = view;
    document.getElementById("loading").classList.toggle("hidden", view !== "loading");
    document.getElementById("clip-view").classList.toggle("hidden", view !== "clip");
    document.getElementById("empty-view").classList.toggle("hidden", view !== "empty");
  }

  function updateRemaining() {
    const n = queue.length;
    document.getElementById("remaining").textContent = more ? `${n}+` : String(n);
    document.getElementById("remaining-word").textContent = n === 1 && !more ? "clip left" : "clips left";
  }

  // --- choices ---------------------------------------------------------------------------------
  function buildChoices() {
    document.getElementById("emotions").replaceChildren(
      ...emotions.map((e) =>
        el("button", { type: "button", class: "choice", "data-emotion": e.code, "aria-pressed": "false", title: e.description || e.name, onclick: () => choose("emotion", e.code) },
          el("span", {}, e.shortcut ? el("kbd", { text: e.shortcut }) : null, " ", e.name),
          el("span", { class: "votes hidden" })))
    );
    document.getElementById("genders").replaceChildren(
      ...genders.map((g) =>
        el("button", { type: "button", class: "choice", "data-gender": g.code, "aria-pressed": "false",
          onclick: () => choose("gender", chosen.gender === g.code ? null : g.code) }, // a second click clears
          el("span", {}, g.shortcut ? el("kbd", { text: g.shortcut.toUpperCase() }) : null, " ", g.name)))
    );
  }

  function choose(kind, code) {
    chosen[kind] = code;
    for (const btn of root.querySelectorAll(`[data-${kind}]`)) {
      btn.setAttribute("aria-pressed", String(btn.dataset[kind] === code));
    }
    if (kind === "emotion" && code) showMessage("");
  }

  // --- the clip in hand ------------------------------------------------------------------------
  function current() {
    return queue[0] || null;
  }

  function showClip() {
    disarm();
    const item = current();
    updateRemaining();
    if (!item) {
      audio.removeAttribute("src");
      setView("empty");
      return;
    }
    root.dataset.clip = String(item.clip);
    document.getElementById("clip-title").textContent = `Clip #${item.clip}`;
    document.getElementById("clip-meta").textContent = `${Number(item.duration_s).toFixed(1)} s · ${item.labels.length} label${item.labels.length === 1 ? "" : "s"}, no majority`;
    audio.src = item.audio_url;

    document.querySelector("#labels tbody").replaceChildren(
      ...item.labels.map((l) =>
        el("tr", {}, el("td", { class: "name", text: l.annotator }), el("td", { text: nameOf(emotions, l.emotion) }), el("td", { text: l.gender ? nameOf(genders, l.gender) : "–" })))
    );
    const dist = Object.entries(item.distribution || {}).sort((a, b) => b[1] - a[1]);
    document.getElementById("distribution").replaceChildren(
      ...dist.map(([code, share]) =>
        el("div", { class: "dist-row" },
          el("span", { text: nameOf(emotions, code) }),
          el("span", { class: "track" }, el("span", { class: "fill", style: `width:${Math.round(share * 100)}%` })),
          el("span", { class: "pct", text: `${Math.round(share * 100)} %` })))
    );
    // Votes per emotion on its button, so the tie is visible where the decision is made.
    const votes = {};
    for (const l of item.labels) votes[l.emotion] = (votes[l.emotion] || 0) + 1;
    for (const btn of root.querySelectorAll("[data-emotion]")) {
      const badge = btn.querySelector(".votes");
      const n = votes[btn.dataset.emotion] || 0;
      badge.textContent = n ? `×${n}` : "";
      badge.classList.toggle("hidden", !n);
    }
    // Preselect the gender most annotators gave (more than half); the curator may change it.
    const g = {};
    for (const l of item.labels) if (l.gender) g[l.gender] = (g[l.gender] || 0) + 1;
    const top = Object.entries(g).sort((a, b) => b[1] - a[1])[0];
    choose("emotion", null);
    choose("gender", top && top[1] * 2 > item.labels.length ? top[0] : null);
    note.value = "";
    setView("clip");
  }

  function togglePlay() {
    if (!current()) return;
    if (audio.paused) {
      if (audio.ended) audio.currentTime = 0;
      audio.play().catch(() => msg.hint("The browser did not start the audio: press ▶.", "warning"));
    } else {
      audio.pause();
    }
  }
  audio.addEventListener("play", () => { playBtn.textContent = "❚❚"; playBtn.setAttribute("aria-pressed", "true"); playBtn.setAttribute("aria-label", "Pause the clip"); });
  audio.addEventListener("pause", () => { playBtn.textContent = "▶"; playBtn.setAttribute("aria-pressed", "false"); playBtn.setAttribute("aria-label", "Play the clip"); });
  playBtn.addEventListener("click", togglePlay);

  // --- decisions -------------------------------------------------------------------------------
  async function decide(decision) {
    const item = current();
    if (!item) return;
    if (busy) {
      msg.hint("Still saving your last decision: a moment.");
      return;
    }
    if (decision === "label" && !chosen.emotion) {
      msg.hint(`Choose an emotion first: press ${emotions.map((e) => e.shortcut).filter(Boolean).join(", ") || "a number"}.`, "warning");
      return;
    }
    busy = true;
    root.setAttribute("aria-busy", "true");
    const body = { clip: item.clip, decision, note: note.value.trim() };
    if (decision === "label") {
      body.emotion = chosen.emotion;
      body.gender = chosen.gender || "";
    }
    const { ok, status, data } = await api(cfg.decideUrl, { method: "POST", body }).catch(() => ({ ok: false, status: 0, data: null }));
    busy = false;
    root.removeAttribute("aria-busy");
    if (ok) {
      const what = decision === "label" ? `labelled ${nameOf(emotions, chosen.emotion)}` : decision === "send_back" ? "sent back to validation" : "discarded";
      showMessage(`Clip #${item.clip} ${what}.`, "success");
      next();
      return;
    }
    const detail = (data && data.detail) || `The decision was not saved (${status || "network error"}).`;
    if ([403, 404, 409].includes(status)) {
      // Decided by someone else meanwhile, or not yours to judge: nothing to do here any more.
      showMessage(`Clip #${item.clip}: ${detail} Moved on to the next clip.`, "warning");
      next();
    } else {
      showMessage(detail);
    }
  }

  function next() {
    audio.pause();
    queue.shift();
    if (!queue.length && more) loadQueue();
    else showClip();
  }

  function disarm() {
    clearTimeout(armTimer);
    armTimer = null;
    discardBtn.classList.remove("is-armed");
    discardBtn.replaceChildren("Discard ", el("kbd", { text: "D" }));
  }

  /* Discarding takes the clip out of the corpus: the first press arms, the second confirms. */
  function discard() {
    if (!current()) return;
    if (armTimer) {
      disarm();
      decide("discard");
      return;
    }
    discardBtn.classList.add("is-armed");
    discardBtn.replaceChildren("Discard? Press ", el("kbd", { text: "D" }), " again");
    armTimer = setTimeout(disarm, ARM_MS);
  }

  document.getElementById("decide").addEventListener("click", () => decide("label"));
  document.getElementById("send-back").addEventListener("click", () => decide("send_back"));
  discardBtn.addEventListener("click", discard);
  document.getElementById("check-again").addEventListener("click", () => loadQueue());

  /* The page's shortcut keys: Space, Enter, B, D and the emotion and gender keys. */
  function isShortcut(key) {
    return key === " " || key === "Enter" || key === "b" || key === "d"
      || [...emotions, ...genders].some((o) => o.shortcut && o.shortcut.toLowerCase() === key);
  }

  /* With no clip in hand, a shortcut says why it does nothing; Enter checks the queue again. */
  function keyWithoutClip(e, key) {
    if (e.target.closest("input, textarea, select, [contenteditable], .topbar, #check-again")) return;
    const view = root.dataset.state;
    if (view === "empty" && key === "Enter") {
      e.preventDefault();
      loadQueue({ announceEmpty: true });
    } else if (isShortcut(key)) {
      e.preventDefault();
      msg.hint(view === "empty" ? "No clip to adjudicate right now: press Enter to check again."
        : view === "loading" ? "Wait a moment: the clips are loading."
        : "The clips could not be loaded: reload the page.");
    }
  }

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (isShortcutKey(e) && !e.target.closest("input, textarea, select, [contenteditable]")) msg.clearHint();
    if (root.dataset.state !== "clip") {
      keyWithoutClip(e, key);
      return;
    }
    if (e.target === note) {
      if (key === "Enter") { e.preventDefault(); decide("label"); }
      else if (key === "Escape") note.blur();
      return;
    }
    if (e.target.closest("input, textarea, select, [contenteditable], .topbar")) return; // the top bar's menus keep their keys
    if (key === " ") {
      e.preventDefault();
      togglePlay();
    } else if (key === "Enter") {
      // Enter on a focused action button does that button's action; anywhere else it decides.
      if (e.target.closest("#send-back, #discard, #check-again")) return;
      e.preventDefault();
      decide("label");
    } else if (key === "Escape") {
      disarm();
    } else if (key === "b") {
      e.preventDefault();
      decide("send_back");
    } else if (key === "d") {
      e.preventDefault();
      discard();
    } else {
      const emo = emotions.find((o) => o.shortcut && o.shortcut.toLowerCase() === key);
      const gen = genders.find((o) => o.shortcut && o.shortcut.toLowerCase() === key);
      if (emo) { e.preventDefault(); choose("emotion", emo.code); }
      else if (gen) { e.preventDefault(); choose("gender", gen.code); }
    }
  });

  // --- loading ---------------------------------------------------------------------------------
  async function loadQueue({ announceEmpty = false } = {}) {
    setView("loading");
    const { ok, status, data } = await api(cfg.queueUrl).catch(() => ({ ok: false, status: 0, data: null }));
    if (!ok) {
      setView("error");
      showMessage((data && data.detail) || `The clips to adjudicate could not be loaded (${status || "network error"}).`);
      return;
    }
    queue = data.results || [];
    more = queue.length >= QUEUE_LIMIT;
    showClip();
    if (announceEmpty && !queue.length) msg.hint("Checked just now: still no clip to adjudicate.");
  }

  async function start() {
    const { ok, status, data } = await api(cfg.schemaUrl).catch(() => ({ ok: false, status: 0, data: null }));
    if (!ok) {
      setView("error");
      showMessage((data && data.detail) || `The label schema could not be loaded (${status || "network error"}).`);
      return;
    }
    emotions = data.emotions || [];
    genders = data.genders || [];
    buildChoices();
    await loadQueue();
  }

  start();
})();
