/* Annotator page: hear the clip (waveform by wavesurfer.js), pick one emotion and the speaker's
   gender, submit; the next clip follows without a page reload.

   Labelling is blind: the page shows only what /api/annotation/next/ hands out (id, duration,
   audio), never the clip's source or other people's labels. time_spent_ms is measured here,
   from the moment the clip appeared to the submit. Every shortcut either acts or says why it
   cannot (the flag panel is open, a request is in flight, the speed is at its end, no clip...);
   that hint goes at the next key that acts, or after a few seconds. */
(function () {
  "use strict";

  const root = document.getElementById("annotate-page");
  if (!root) return;
  const { api, el, messageBox, isShortcutKey } = window.Studio;
  const cfg = root.dataset;
  const SPEEDS = [0.75, 1, 1.25];
  const SPEED_KEY = "tuniser.annotate.speed";

  const $ = (id) => document.getElementById(id);
  const ui = {
    message: $("message"), loading: $("loading"), clipView: $("clip-view"), emptyView: $("empty-view"),
    emptyDetail: $("empty-detail"), clipTitle: $("clip-title"), clipNote: $("clip-note"), waveform: $("waveform"),
    bigPlay: $("big-play"), play: $("play"), replay: $("replay"), time: $("time"), emotions: $("emotions"),
    genders: $("genders"), comment: $("comment"), submit: $("submit"), skip: $("skip"), flag: $("flag"),
    flagPanel: $("flag-panel"), flagReasons: $("flag-reasons"), guide: $("guide"), guideToggle: $("guide-toggle"),
    guideClose: $("guide-close"), guideText: $("guide-text"), guideEmotions: $("guide-emotions"),
    checkAgain: $("check-again"),
  };

  const state = {
    schema: null,
    keys: new Map(), // shortcut key -> {kind, code}, from the schema
    clip: null,
    shownAt: 0,
    emotion: null,
    gender: null,
    flagging: false,
    busy: false,
    speed: SPEEDS.includes(Number(localStorage.getItem(SPEED_KEY))) ? Number(localStorage.getItem(SPEED_KEY)) : 1,
  };
  let ws = null;

  // --- view ---------------------------------------------------------------------------------
  function setMode(mode) {
    root.dataset.mode = mode;
    ui.loading.classList.toggle("hidden", mode !== "loading");
    ui.clipView.classList.toggle("hidden", mode !== "clip");
    ui.emptyView.classList.toggle("hidden", mode !== "empty");
  }

  const msg = messageBox(ui.message);
  const showMessage = msg.show;
  const clearMessage = msg.clear;

  function showCounts(counts) {
    if (!counts) return;
    for (const node of root.querySelectorAll("[data-count]")) {
      const v = counts[node.dataset.count];
      if (v != null) node.textContent = String(v);
    }
  }

  function choiceButton(kind, option) {
    const key = (option.shortcut || "").toUpperCase();
    return el(
      "button",
      {
        type: "button",
        class: `choice choice-${kind}${option.tier ? " tier-" + option.tier : ""}`,
        "data-kind": kind,
        "data-code": option.code,
        "aria-pressed": "false",
        title: option.description || option.name,
        onclick: () => choose(kind, option.code),
      },
      el("span", { class: "choice-top" }, key ? el("kbd", { text: key }) : null, el("span", { class: "choice-name", text: option.name })),
      kind === "emotion" && option.description ? el("span", { class: "choice-desc", text: option.description }) : null
    );
  }

  function renderSchema() {
    const { emotions, genders, reasons, config } = state.schema;
    ui.emotions.replaceChildren(...emotions.map((o) => choiceButton("emotion", o)));
    ui.genders.replaceChildren(...genders.map((o) => choiceButton("gender", o)));
    for (const [kind, list] of [["emotion", emotions], ["gender", genders]]) {
      for (const o of list) if (o.shortcut) state.keys.set(o.shortcut.toLowerCase(), { kind, code: o.code });
    }
    ui.flagReasons.replaceChildren(
      ...reasons.map((r, i) =>
        el("button", { type: "button", class: "btn btn-secondary btn-sm flag-reason", "data-reason": r.code, onclick: () => flag(r.code) },
          i < 9 ? el("kbd", { text: String(i + 1) }) : null, r.text)
      )
    );
    ui.guideText.textContent = config.guideline || "";
    ui.guideEmotions.replaceChildren(
      ...emotions.flatMap((o) => [
        el("dt", {}, o.shortcut ? el("kbd", { text: o.shortcut.toUpperCase() }) : null, " ", o.name,
          o.tier ? el("span", { class: "muted small", text: ` · ${o.tier}` }) : null),
        el("dd", { text: o.description || "" }),
      ])
    );
  }

  function choose(kind, code) {
    state[kind] = code;
    if (code && ui.message.classList.contains("alert-warning")) clearMessage();
    for (const b of root.querySelectorAll(`.choice[data-kind="${kind}"]`)) {
      b.setAttribute("aria-pressed", b.dataset.code === code ? "true" : "false");
    }
    if (code) root.dataset[kind] = code;
    else delete root.dataset[kind];
  }

  function setFlagging(on) {
    state.flagging = on;
    ui.flagPanel.classList.toggle("hidden", !on);
    ui.flag.setAttribute("aria-expanded", on ? "true" : "false");
    root.dataset.flagging = on ? "true" : "false";
  }

  function toggleGuide(show) {
    const open = show === undefined ? ui.guide.classList.contains("hidden") : show;
    ui.guide.classList.toggle("hidden", !open);
    ui.guideToggle.setAttribute("aria-expanded", open ? "true" : "false");
  }

  function showSpeed() {
    for (const b of root.querySelectorAll("[data-speed]")) {
      b.setAttribute("aria-current", Number(b.dataset.speed) === state.speed ? "true" : "false");
    }
  }

  function setSpeed(speed) {
    state.speed = speed;
    localStorage.setItem(SPEED_KEY, String(speed));
    if (ws) ws.setPlaybackRate(speed, true); // keep the pitch: a voice's pitch carries emotion
    showSpeed();
  }

  function stepSpeed(delta) {
    const i = SPEEDS.indexOf(state.speed);
    const j = Math.min(SPEEDS.length - 1, Math.max(0, i + delta));
    if (j === i) {
      msg.hint(`Already at the ${delta < 0 ? "slowest" : "fastest"} speed (${state.speed}×).`);
      return;
    }
    setSpeed(SPEEDS[j]);
  }

  function busyMessage() {
    msg.hint("Still saving your last answer: a moment.");
  }

  // --- audio --------------------------------------------------------------------------------
  function fmt(t) {
    return (Number(t) || 0).toFixed(1);
  }

  function ensurePlayer() {
    if (ws) return ws;
    if (!window.WaveSurfer) throw new Error("The waveform library did not load; reload the page.");
    ws = WaveSurfer.create({
      container: ui.waveform,
      height: 88,
      waveColor: "#4fb3a9",
      progressColor: "#a8e6df",
      cursorColor: "#ffc857",
      cursorWidth: 2,
      barWidth: 2,
      barGap: 1,
      barRadius: 2,
      normalize: true,
    });
    ws.on("ready", () => {
      ws.setPlaybackRate(state.speed, true);
      ui.waveform.dataset.ready = "true";
      ui.time.textContent = `0.0 / ${fmt(ws.getDuration())} s`;
      play(false);
    });
    ws.on("timeupdate", (t) => (ui.time.textContent = `${fmt(t)} / ${fmt(ws.getDuration())} s`));
    ws.on("play", () => {
      root.classList.remove("autoplay-blocked");
      ui.play.textContent = "❚❚ Pause";
      ui.play.setAttribute("aria-pressed", "true");
    });
    ws.on("pause", () => {
      ui.play.textContent = "▶ Play";
      ui.play.setAttribute("aria-pressed", "false");
    });
    ws.on("finish", () => (root.dataset.heard = "true"));
    return ws;
  }

  function play(fromStart) {
    if (!state.clip) return;
    if (!ws || ui.waveform.dataset.ready !== "true") {
      msg.hint("The clip is still loading: it plays as soon as it is ready.");
      return;
    }
    if (fromStart) ws.setTime(0);
    const p = ws.play();
    if (p && p.catch) {
      p.catch((err) => {
        if (err && err.name === "NotAllowedError") root.classList.add("autoplay-blocked");
      });
    }
  }

  async function loadAudio(url) {
    ui.waveform.dataset.ready = "false";
    try {
      await ensurePlayer().load(url);
    } catch (err) {
      if (err && err.name === "AbortError") return; // a newer clip replaced this one
      showMessage("The clip's audio could not be loaded. Skip it (Esc) and tell a curator if this repeats.");
    }
  }

  // --- server -------------------------------------------------------------------------------
  async function next({ keepMessage = false, announceEmpty = false } = {}) {
    if (!keepMessage) clearMessage();
    setFlagging(false);
    if (ws) ws.pause();
    state.clip = null;
    setMode("loading");
    const { ok, status, data } = await api(cfg.nextUrl);
    if (!ok) {
      showMessage((data && data.detail) || `The next clip could not be fetched (${status}).`);
      ui.emptyDetail.textContent = "Try again in a moment.";
      setMode("empty");
      return;
    }
    showCounts(data.counts);
    if (!data.clip) {
      ui.emptyDetail.textContent = data.detail || "No clips left.";
      setMode("empty");
      if (announceEmpty) msg.hint("Checked just now: still no clip to label.");
      return;
    }
    state.clip = data.clip;
    state.shownAt = performance.now();
    choose("emotion", null);
    choose("gender", null);
    ui.comment.value = "";
    delete root.dataset.heard;
    root.dataset.clip = String(data.clip.id);
    ui.clipTitle.textContent = `Clip #${data.clip.id} · ${fmt(data.clip.duration_s)} s`;
    const until = data.expires_at ? new Date(data.expires_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
    ui.clipNote.textContent = [data.resumed ? data.detail : "", until ? `held for you until ${until}` : ""].filter(Boolean).join(" · ");
    ui.time.textContent = `0.0 / ${fmt(data.clip.duration_s)} s`;
    setMode("clip");
    loadAudio(data.clip.audio_url);
  }

  async function post(url, body) {
    state.busy = true;
    ui.submit.disabled = true;
    try {
      return await api(url, { method: "POST", body });
    } finally {
      state.busy = false;
      ui.submit.disabled = false;
    }
  }

  async function submit() {
    if (!state.clip) return;
    if (state.busy) return busyMessage();
    if (!state.emotion) {
      msg.hint("Choose the emotion you hear (keys 1–7).", "warning");
      return;
    }
    if (!state.gender) {
      msg.hint("The speaker's gender is missing (M or F).", "warning");
      return;
    }
    const { ok, status, data } = await post(cfg.submitUrl, {
      clip: state.clip.id,
      emotion: state.emotion,
      gender: state.gender,
      time_spent_ms: Math.round(performance.now() - state.shownAt),
      comment: ui.comment.value.trim(),
    });
    if (ok) {
      showCounts(data.counts);
      next();
      return;
    }
    showMessage((data && data.detail) || `The label was not stored (${status}).`);
    if (status === 409) next({ keepMessage: true });
  }

  async function skip() {
    if (!state.clip) return;
    if (state.busy) return busyMessage();
    const { ok, status, data } = await post(cfg.skipUrl, { clip: state.clip.id });
    if (!ok) {
      showMessage((data && data.detail) || `The clip could not be skipped (${status}).`);
      if (status !== 409) return;
    }
    next({ keepMessage: !ok });
  }

  async function flag(reason) {
    if (!state.clip) return;
    if (state.busy) return busyMessage();
    const { ok, status, data } = await post(cfg.flagUrl, { clip: state.clip.id, reason, comment: ui.comment.value.trim() });
    if (ok) {
      showMessage((data && data.detail) || "Sent back to validation.", "info");
      next({ keepMessage: true });
      return;
    }
    showMessage((data && data.detail) || `The clip could not be sent back (${status}).`);
    if (status === 409) next({ keepMessage: true });
  }

  // --- controls -----------------------------------------------------------------------------
  ui.play.addEventListener("click", () => (ws && ws.isPlaying() ? ws.pause() : play(false)));
  ui.bigPlay.addEventListener("click", () => play(false));
  ui.replay.addEventListener("click", () => play(true));
  for (const b of root.querySelectorAll("[data-speed]")) b.addEventListener("click", () => setSpeed(Number(b.dataset.speed)));
  ui.submit.addEventListener("click", submit);
  ui.skip.addEventListener("click", skip);
  ui.flag.addEventListener("click", () => setFlagging(!state.flagging));
  ui.guideToggle.addEventListener("click", () => toggleGuide());
  ui.guideClose.addEventListener("click", () => toggleGuide(false));
  ui.checkAgain.addEventListener("click", () => next());
  // In the comment field keys type text; only Enter (submit) and Esc (leave the field) act.
  ui.comment.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      submit();
    } else if (e.key === "Escape") {
      e.preventDefault();
      ui.comment.blur();
    }
  });

  // Keys typed into a field, or on the top bar's menus (Enter and Space open them), are theirs.
  function typing(target) {
    if (target && target.closest && target.closest(".topbar")) return true;
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat || typing(e.target)) return;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (isShortcutKey(e)) msg.clearHint(); // the hint of an earlier key is no longer true
    let handled = true;
    if (key === "?") toggleGuide();
    else if (key === "Escape" && !ui.guide.classList.contains("hidden")) toggleGuide(false);
    else if (root.dataset.mode === "empty" && key === "Enter") next({ announceEmpty: true });
    else if (root.dataset.mode !== "clip") {
      handled = false;
      if (state.keys.has(key) || /^[ x[\]]$|^Enter$|^Escape$/.test(key)) {
        msg.hint(root.dataset.mode === "empty" ? "No clip to label right now: press Enter to check for new clips."
          : "Wait a moment: the next clip is loading.");
      }
    } else if (state.flagging && /^[1-9]$/.test(key)) {
      const reason = state.schema.reasons[Number(key) - 1];
      if (reason) flag(reason.code);
      else msg.hint(`There is no reason ${key}: the reasons are numbered 1 to ${state.schema.reasons.length}. Esc closes the panel.`);
    } else if (state.flagging && key === "Escape") setFlagging(false);
    else if (state.keys.has(key)) {
      const { kind, code } = state.keys.get(key);
      choose(kind, code);
    } else if (key === " ") play(true);
    else if (key === "Enter") submit();
    else if (key === "Escape") skip();
    else if (key === "x") setFlagging(!state.flagging);
    else if (key === "[") stepSpeed(-1);
    else if (key === "]") stepSpeed(1);
    else handled = false;
    if (handled) e.preventDefault();
  });
  document.addEventListener("keyup", (e) => {
    if (e.key === " " && e.target.tagName === "BUTTON") e.preventDefault();
  });

  (async function init() {
    showSpeed();
    const { ok, status, data } = await api(cfg.schemaUrl);
    if (!ok) {
      showMessage((data && data.detail) || `The label schema could not be loaded (${status}).`);
      setMode("empty");
      return;
    }
    state.schema = data;
    renderSchema();
    next();
  })();
})();
