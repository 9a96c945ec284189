/* Validator page: hear each clip to its end, then accept it or reject it with reasons.

   One clip at a time from /api/validation/next/, no page reload. The server refuses a vote that
   accept that comes sooner than the clip's duration after it was served, so Accept stays
   disabled until the <audio> has fired `ended` once for this clip. Rejecting needs no wait: an
   obviously bad clip (music, silence, two voices) is refused at any moment, R then a number
   then Enter. A shortcut that cannot act now says why instead of doing nothing; that hint goes
   at the next key that acts, or after a few seconds. */
(function () {
  "use strict";

  const root = document.getElementById("validate-page");
  if (!root) return;
  const { api, el, setProgress, messageBox, isShortcutKey } = window.Studio;
  const cfg = root.dataset;
  const SET_SIZE = 10;

  const $ = (id) => document.getElementById(id);
  const audio = $("audio");
  const ui = {
    message: $("message"), loading: $("loading"), clipView: $("clip-view"), setDone: $("set-done"),
    emptyView: $("empty-view"), emptyDetail: $("empty-detail"), setLabel: $("set-label"), setBar: $("set-bar"),
    play: $("play"), clipTitle: $("clip-title"), clipTime: $("clip-time"), playback: $("playback"),
    hint: $("listen-hint"), accept: $("accept"), reject: $("reject"), replay: $("replay"), skip: $("skip"),
    rejectPanel: $("reject-panel"), reasons: $("reasons"), rejectConfirm: $("reject-confirm"),
    rejectCancel: $("reject-cancel"), cont: $("continue"), checkAgain: $("check-again"),
  };

  const state = {
    reasons: [], // [{code, text}] in schema order: key N ticks reasons[N-1]
    clip: null,
    shownAt: 0, // performance.now() when the clip appeared: time_spent_ms is measured from here
    heard: false,
    rejecting: false,
    ticked: new Set(),
    inSet: 0, // clips answered or skipped in the current set
    busy: false,
    counts: {},
  };

  // --- view ---------------------------------------------------------------------------------
  function setMode(mode) {
    root.dataset.mode = mode;
    ui.loading.classList.toggle("hidden", mode !== "loading");
    ui.clipView.classList.toggle("hidden", mode !== "clip");
    ui.setDone.classList.toggle("hidden", mode !== "setdone");
    ui.emptyView.classList.toggle("hidden", mode !== "empty");
    if (mode === "setdone") ui.cont.focus({ preventScroll: true });
  }

  const msg = messageBox(ui.message);
  const showMessage = msg.show;
  const clearMessage = msg.clear;

  function showCounts(counts) {
    if (!counts) return;
    state.counts = { ...counts };
    for (const node of root.querySelectorAll("[data-count]")) {
      const v = counts[node.dataset.count];
      if (v != null) node.textContent = String(v);
    }
  }

  function showSetProgress() {
    const position = Math.min(state.inSet + 1, SET_SIZE);
    ui.setLabel.textContent = `${position} / ${SET_SIZE} in this set`;
    setProgress(ui.setBar, state.inSet / SET_SIZE, { done: state.inSet >= SET_SIZE });
  }

  function showHeard() {
    ui.accept.disabled = !state.heard || state.busy;
    ui.rejectConfirm.disabled = state.busy || state.ticked.size === 0;
    root.dataset.heard = state.heard ? "true" : "false";
    if (state.heard) ui.hint.textContent = "Heard to the end. Your call.";
  }

  function renderReasons() {
    ui.reasons.replaceChildren(
      ...state.reasons.map((r, i) => {
        const id = `reason-${r.code}`;
        const box = el("input", { type: "checkbox", id, value: r.code, "data-reason": r.code });
        box.addEventListener("change", () => toggleReason(r.code, box.checked));
        return el("li", {}, el("label", { for: id, class: "reason" }, box, i < 9 ? el("kbd", { text: String(i + 1) }) : null, el("span", { text: r.text })));
      })
    );
  }

  function toggleReason(code, on) {
    if (on === undefined) on = !state.ticked.has(code);
    if (on) state.ticked.add(code);
    else state.ticked.delete(code);
    const box = ui.reasons.querySelector(`input[data-reason="${code}"]`);
    if (box) box.checked = on;
    showHeard();
  }

  function setRejecting(on) {
    state.rejecting = on;
    ui.rejectPanel.classList.toggle("hidden", !on);
    ui.reject.setAttribute("aria-expanded", on ? "true" : "false");
    root.dataset.rejecting = on ? "true" : "false";
    if (!on) for (const code of [...state.ticked]) toggleReason(code, false);
    showHeard();
  }

  // --- audio --------------------------------------------------------------------------------
  function play(fromStart) {
    if (!state.clip) return;
    if (fromStart) audio.currentTime = 0;
    const p = audio.play();
    if (p && p.catch) {
      p.then(() => root.classList.remove("autoplay-blocked")).catch((err) => {
        if (err && err.name === "NotAllowedError") {
          // Autoplay blocked by the browser: the big play button (or Space) starts it.
          root.classList.add("autoplay-blocked");
          ui.hint.textContent = "Your browser did not start the clip: press ▶ or Space to listen.";
        }
      });
    }
  }

  audio.addEventListener("play", () => {
    ui.play.textContent = "❚❚";
    ui.play.setAttribute("aria-label", "Pause");
    root.classList.remove("autoplay-blocked");
    if (!state.heard) ui.hint.textContent = "Listening…";
  });
  audio.addEventListener("pause", () => {
    ui.play.textContent = "▶";
    ui.play.setAttribute("aria-label", "Play the clip");
  });
  audio.addEventListener("timeupdate", () => {
    const d = audio.duration || (state.clip && state.clip.duration_s) || 0;
    ui.clipTime.textContent = `${audio.currentTime.toFixed(1)} / ${d.toFixed(1)} s`;
    setProgress(ui.playback, d ? audio.currentTime / d : 0);
  });
  audio.addEventListener("ended", () => {
    setProgress(ui.playback, 1, { done: true });
    state.heard = true;
    if (ui.message.classList.contains("alert-warning")) clearMessage(); // "listen first" is done
    showHeard();
  });
  audio.addEventListener("error", () => {
    if (!state.clip) return;
    showMessage("The clip's audio could not be loaded. Skip it (S) and tell a curator if this repeats.");
  });

  // --- server -------------------------------------------------------------------------------
  async function loadSchema() {
    const { ok, status, data } = await api(cfg.schemaUrl);
    if (!ok) throw new Error((data && data.detail) || `The label schema could not be loaded (${status}).`);
    state.reasons = data.reasons || [];
    renderReasons();
  }

  async function next({ keepMessage = false, announceEmpty = false } = {}) {
    if (!keepMessage) clearMessage();
    setRejecting(false);
    audio.pause();
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
      if (announceEmpty) msg.hint("Checked just now: still no clip to validate.");
      return;
    }
    state.clip = data.clip;
    state.heard = false;
    state.shownAt = performance.now();
    root.dataset.clip = String(data.clip.id);
    const speech = typeof data.clip.speech_prob === "number"
      ? ` · speech ${Math.round(data.clip.speech_prob * 100)} %` : "";
    const voice = typeof data.clip.one_speaker_conf === "number"
      ? ` · one voice ${Math.round(data.clip.one_speaker_conf * 100)} %` : "";
    const who = data.clip.speaker_label ? ` · ${data.clip.speaker_label}` : "";
    ui.clipTitle.textContent = `Clip #${data.clip.id} · ${data.clip.duration_s.toFixed(1)} s${speech}${voice}${who}`;
    ui.clipTitle.title = [
      speech ? "speech: Silero VAD's speech probability over the clip (low means music, noise or silence)" : "",
      voice ? "one voice: the speaker step's confidence that one speaker alone talks (low means check "
        + "for a second voice)" : "",
      who ? "the speaker cluster of the recording the clip belongs to" : "",
    ].filter(Boolean).join("; ");
    ui.clipTime.textContent = `0.0 / ${data.clip.duration_s.toFixed(1)} s`;
    ui.hint.textContent = data.resumed ? "You already held this clip: here it is again." : "Listening…";
    setProgress(ui.playback, 0);
    showHeard();
    showSetProgress();
    setMode("clip");
    audio.src = data.clip.audio_url;
    play(false);
  }

  function answered() {
    state.inSet += 1;
    showSetProgress();
    if (state.inSet >= SET_SIZE) {
      audio.pause();
      state.clip = null;
      setMode("setdone");
    } else {
      next({ keepMessage: false });
    }
  }

  async function vote(accept) {
    if (!state.clip) return;
    if (state.busy) {
      msg.hint("Still saving your last answer: a moment.");
      return;
    }
    if (accept && !state.heard) {
      msg.hint("Listen to the whole clip first: Accept unlocks when it has played to its end (R rejects at any moment).", "warning");
      return;
    }
    if (!accept && state.ticked.size === 0) {
      msg.hint("A rejection needs at least one reason: tick it with its number.", "warning");
      return;
    }
    state.busy = true;
    showHeard();
    const body = {
      clip: state.clip.id,
      accept,
      reasons: accept ? [] : [...state.ticked],
      time_spent_ms: Math.round(performance.now() - state.shownAt),
    };
    const { ok, status, data } = await api(cfg.voteUrl, { method: "POST", body });
    state.busy = false;
    if (ok) {
      showCounts({ ...state.counts, validated_today: (state.counts.validated_today || 0) + 1, validated_total: (state.counts.validated_total || 0) + 1 });
      answered();
      return;
    }
    const detail = (data && data.detail) || `The vote was not stored (${status}).`;
    if (status === 409) {
      // Not held any more, already decided or already voted: this clip is gone, move on.
      showMessage(detail);
      next({ keepMessage: true });
    } else {
      showMessage(detail);
      showHeard();
    }
  }

  async function skip() {
    if (!state.clip) return;
    if (state.busy) {
      msg.hint("Still saving your last answer: a moment.");
      return;
    }
    state.busy = true;
    const { ok, status, data } = await api(cfg.skipUrl, { method: "POST", body: { clip: state.clip.id } });
    state.busy = false;
    if (!ok) {
      showMessage((data && data.detail) || `The clip could not be skipped (${status}).`);
      if (status === 409) next({ keepMessage: true });
      return;
    }
    answered();
  }

  function startNextSet() {
    state.inSet = 0;
    showSetProgress();
    next();
  }

  // --- controls -----------------------------------------------------------------------------
  ui.play.addEventListener("click", () => (audio.paused ? play(audio.ended) : audio.pause()));
  ui.replay.addEventListener("click", () => play(true));
  ui.accept.addEventListener("click", () => vote(true));
  ui.reject.addEventListener("click", () => setRejecting(!state.rejecting));
  ui.rejectConfirm.addEventListener("click", () => vote(false));
  ui.rejectCancel.addEventListener("click", () => setRejecting(false));
  ui.skip.addEventListener("click", skip);
  ui.cont.addEventListener("click", startNextSet);
  ui.checkAgain.addEventListener("click", () => next());

  // Keys typed into a field, or on the top bar's menus (Enter and Space open them), are theirs.
  function typing(target) {
    if (target && target.closest && target.closest(".topbar")) return true;
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) && target.type !== "checkbox";
  }

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat || typing(e.target)) return;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    const mode = root.dataset.mode;
    if (isShortcutKey(e)) msg.clearHint(); // the hint of an earlier key is no longer true
    if (mode === "setdone" || mode === "empty") {
      if (key === "Enter") {
        e.preventDefault();
        if (mode === "setdone") startNextSet();
        else next({ announceEmpty: true });
      } else if (/^[ ars1-9]$/.test(key)) {
        msg.hint(mode === "setdone" ? "This set is done: press Enter for the next set."
          : "No clip to validate right now: press Enter to check for new clips.");
      }
      return;
    }
    if (mode !== "clip") {
      if (mode === "loading" && /^[ ars1-9]$|^Enter$/.test(key)) msg.hint("Wait a moment: the next clip is loading.");
      return;
    }
    let handled = true;
    if (key === " ") play(true);
    else if (/^[1-9]$/.test(key)) {
      const reason = state.rejecting ? state.reasons[Number(key) - 1] : null;
      if (reason) toggleReason(reason.code);
      else if (state.rejecting) msg.hint(`There is no reason ${key}: the reasons are numbered 1 to ${state.reasons.length}.`);
      else msg.hint("Numbers tick rejection reasons: press R to open them first.");
    } else if (key === "Enter") {
      if (state.rejecting) vote(false);
      else msg.hint("Enter confirms a rejection: press A to accept, or R to reject.");
    } else if (key === "Escape") {
      if (state.rejecting) setRejecting(false);
      else handled = false; // nothing open: leave Esc to the browser
    } else if (key === "r") setRejecting(!state.rejecting);
    else if (key === "a") {
      if (state.rejecting) msg.hint("Close the reject panel first (Esc), then press A to accept.");
      else vote(true);
    } else if (key === "s") skip();
    else handled = false;
    if (handled) e.preventDefault(); // no page scroll on Space, no click of a focused button on Enter
  });
  // Space activates a focused button or checkbox on keyup: the keydown above already acted on it.
  document.addEventListener("keyup", (e) => {
    if (e.key === " " && (e.target.tagName === "BUTTON" || e.target.type === "checkbox")) e.preventDefault();
  });

  (async function init() {
    try {
      await loadSchema();
    } catch (err) {
      showMessage(err.message);
      setMode("empty");
      return;
    }
    showSetProgress();
    next();
  })();
})();
