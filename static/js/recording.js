/* Recording page: waveform from pre-computed peaks (wavesurfer.js), clips as regions and rows,
   duration histogram (inline SVG), segmentation progress and "Segment again". */
(function () {
  "use strict";
  const { el, api, fmtTime, fmtDuration, setProgress, durationHistogram } = window.Studio;

  const POLL_MS = 1000;
  const page = document.getElementById("recording-page");
  if (!page) return;
  const cfg = page.dataset;
  const runUrl = (id) => cfg.runUrl.replace(/\/0\/$/, `/${id}/`);
  const failed = cfg.status === "failed";

  // Per status, two shades: neighbouring clips alternate between them, and each region has a
  // light edge on both sides, so clips that touch (a cut with no pause) stay two regions.
  const REGION_COLORS = {
    awaiting_validation: ["rgba(255, 200, 87, 0.20)", "rgba(255, 200, 87, 0.34)"],
    accepted: ["rgba(98, 214, 140, 0.24)", "rgba(98, 214, 140, 0.38)"],
    labelled: ["rgba(98, 214, 140, 0.34)", "rgba(98, 214, 140, 0.50)"],
    rejected: ["rgba(255, 110, 100, 0.24)", "rgba(255, 110, 100, 0.38)"],
    excluded: ["rgba(200, 200, 200, 0.14)", "rgba(200, 200, 200, 0.26)"],
  };
  const REGION_EDGE = "2px solid rgba(255, 255, 255, 0.7)";
  const regionColor = (clip, k) => (REGION_COLORS[clip.status] || REGION_COLORS.awaiting_validation)[k % 2];
  const shadeOf = new Map(); // clip id (string) -> its colour, to restore after playing
  const ACTIVE_COLOR = "rgba(255, 200, 87, 0.55)";

  let ws = null; // WaveSurfer instance
  let wsReady = false; // regions added before "ready" would be clamped to a zero-length recording
  let regions = null; // its regions plugin
  let clips = [];
  let clipsById = new Map();
  let speakers = []; // the recording's speaker clusters (lanes)
  let view = [0, 0]; // the seconds the waveform shows, for the lanes under it
  // One colour per cluster (Okabe-Ito, distinguishable with colour-vision deficiencies).
  const LANE_COLORS = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"];
  let playingClip = null;
  const clipAudio = document.getElementById("clip-audio");

  // --- waveform -----------------------------------------------------------------------------
  /* Timeline plugin options for `pxPerSec`: a label every `step` seconds, the smallest "nice"
     step at least 80 px apart, and 5 ticks per step (the plugin compares times in hundredths). */
  const NICE_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  function timelineSteps(pxPerSec) {
    const step = NICE_STEPS.find((s) => s * pxPerSec >= 80) || NICE_STEPS[NICE_STEPS.length - 1];
    const digits = step < 1 ? 1 : 0;
    return {
      timeInterval: step / 5, primaryLabelInterval: step, secondaryLabelInterval: step,
      formatTimeCallback: (t) => {
        const m = Math.floor(t / 60 + 1e-9);
        const s = (t - m * 60).toFixed(digits);
        return m ? `${m}:${s.padStart(digits ? 4 : 2, "0")}` : s;
      },
    };
  }

  async function loadWaveform() {
    const holder = document.getElementById("waveform");
    const loading = document.getElementById("waveform-loading");
    if (!cfg.audioUrl) {
      loading.textContent = "This recording has no decoded audio.";
      return;
    }
    if (!window.WaveSurfer) {
      loading.textContent = "The waveform library did not load.";
      return;
    }
    const { ok, status, data } = await api(cfg.peaksUrl);
    if (!ok) {
      loading.textContent = `The waveform could not be loaded (${(data && data.detail) || status}).`;
      return;
    }
    loading.remove();
    regions = WaveSurfer.Regions.create();
    const plugins = [regions];
    // The timeline has its own box under the waveform: inside wavesurfer's wrapper the regions
    // (z-index 5, full height) lay over its labels. The box follows the waveform's scroll.
    let timeline = null;
    const timelineBox = el("div", { class: "waveform-timeline", id: "waveform-timeline", "aria-hidden": "true" });
    if (WaveSurfer.Timeline) {
      holder.after(timelineBox);
      timeline = WaveSurfer.Timeline.create({
        container: timelineBox, height: 18, ...timelineSteps(holder.clientWidth / Math.max(data.duration, 1e-3)),
        style: { color: "#4d6b70", fontSize: "11px" },
      });
      plugins.push(timeline);
    }
    // The media element streams the recording; only its metadata is fetched up front. The peaks
    // come from the server, so the browser never downloads and decodes the whole file to draw it.
    const media = document.createElement("audio");
    media.preload = "metadata";
    ws = WaveSurfer.create({
      container: holder,
      height: 120,
      waveColor: "#4fb3a9",
      progressColor: "#a8e6df",
      cursorColor: "#ffc857",
      cursorWidth: 2,
      normalize: true,
      media,
      url: cfg.audioUrl,
      peaks: [data.peaks],
      duration: data.duration,
      plugins,
    });
    window.Studio.player = ws; // for the console
    const playBtn = document.getElementById("play-pause");
    const zoom = document.getElementById("zoom");
    const time = document.getElementById("time");
    const total = data.duration;
    const showTime = (t) => { time.textContent = `${fmtTime(t)} / ${fmtTime(total)}`; };
    showTime(0);

    const visible = () => {
      const pxPerSec = ws.options.minPxPerSec;
      const width = ws.getWidth();
      if (!pxPerSec || pxPerSec * total <= width) return [0, total];
      const start = ws.getScroll() / pxPerSec;
      return [start, Math.min(total, start + width / pxPerSec)];
    };
    const syncTimeline = () => {
      const inner = timelineBox.firstElementChild;
      if (!timeline || !inner) return;
      inner.style.width = `${ws.getWrapper().scrollWidth}px`;
      inner.style.transform = `translateX(${-ws.getScroll()}px)`;
    };
    // Labels about every 80 px at any zoom (the plugin's defaults label every 5 or 10 s only,
    // so a zoomed view showed "0" and bare ticks).
    const retime = () => {
      if (!timeline) return;
      Object.assign(timeline.options, timelineSteps(ws.getWrapper().scrollWidth / total));
      timeline.initTimeline();
      syncTimeline();
    };
    ws.on("scroll", (start, end) => { view = [start, end]; renderLanes(); syncTimeline(); });
    ws.on("zoom", () => { view = visible(); renderLanes(); retime(); });
    ws.on("redraw", syncTimeline);
    ws.on("ready", () => {
      wsReady = true;
      view = [0, total];
      renderLanes();
      renderRegions();
      retime();
      playBtn.disabled = false;
      zoom.disabled = false;
      holder.dataset.ready = "true";
    });
    ws.on("timeupdate", (t) => { if (!playingClip) showTime(t); });
    ws.on("play", () => {
      stopClip();
      playBtn.textContent = "❚❚ Pause";
      playBtn.setAttribute("aria-pressed", "true");
    });
    ws.on("pause", () => {
      playBtn.textContent = "▶ Play";
      playBtn.setAttribute("aria-pressed", "false");
    });
    ws.on("error", (err) => console.warn("waveform:", err));
    playBtn.addEventListener("click", () => ws.playPause());
    zoom.addEventListener("input", () => {
      try { ws.zoom(Number(zoom.value)); } catch (e) { /* not ready yet */ }
    });
    regions.on("region-clicked", (region, e) => {
      e.stopPropagation(); // no seek of the long recording: the clip's own file is played
      const clip = clipsById.get(region.id);
      if (clip) playClip(clip);
    });
    clipAudio.addEventListener("timeupdate", () => {
      if (playingClip) showTime(playingClip.start_s + clipAudio.currentTime);
    });
  }

  function renderRegions() {
    if (!regions || !wsReady) return;
    regions.clearRegions();
    shadeOf.clear();
    clips.forEach((clip, k) => {
      const color = regionColor(clip, k);
      shadeOf.set(String(clip.id), color);
      const region = regions.addRegion({
        id: String(clip.id),
        start: clip.start_s,
        end: clip.end_s,
        color,
        drag: false,
        resize: false,
      });
      if (region && region.element) {
        region.element.style.borderLeft = REGION_EDGE;
        region.element.style.borderRight = REGION_EDGE;
        region.element.style.boxSizing = "border-box";
        region.element.dataset.clip = String(clip.id);
        region.element.dataset.shade = String(k % 2);
      }
    });
    document.getElementById("waveform").dataset.regions = String(clips.length);
  }

  // Speaker lanes: one row per cluster under the waveform, its clips as bars over the seconds the
  // waveform shows (they follow zoom and scroll); a click plays the clip.
  function renderLanes() {
    const holder = document.getElementById("speaker-lanes");
    if (!holder) return;
    // Before the waveform is ready (or if it never is), the lanes span the whole recording.
    const [t0, t1] = view[1] > view[0] ? view : [0, Number(cfg.lengthS) || Math.max(0, ...clips.map((c) => c.end_s))];
    if (!speakers.length || t1 <= t0) { holder.hidden = true; return; }
    const span = t1 - t0;
    const rows = speakers.map((spk, k) => {
      const color = LANE_COLORS[k % LANE_COLORS.length];
      const lane = el("div", { class: "lane-track" });
      for (const clip of clips) {
        if (clip.speaker_cluster !== spk.id || clip.end_s <= t0 || clip.start_s >= t1) continue;
        const left = (Math.max(clip.start_s, t0) - t0) / span * 100;
        const width = (Math.min(clip.end_s, t1) - Math.max(clip.start_s, t0)) / span * 100;
        lane.append(el("button", {
          type: "button", class: "lane-bar", "data-clip": clip.id,
          style: `left:${left}%;width:${Math.max(width, 0.2)}%;background:${color}`,
          title: `${spk.display}: clip #${clip.id}, ${fmtTime(clip.start_s)} – ${fmtTime(clip.end_s)}`,
          "aria-label": `Play clip ${clip.id} (${spk.display})`,
          onclick: () => playClip(clip),
        }));
      }
      return el("div", { class: "lane", "data-cluster": spk.id },
        el("span", { class: "lane-name", style: `border-left:4px solid ${color}`, title: spk.display }, spk.display),
        lane);
    });
    holder.replaceChildren(...rows);
    holder.hidden = false;
  }

  async function loadSpeakers() {
    if (!cfg.speakersUrl) return;
    const { ok, data } = await api(cfg.speakersUrl);
    if (!ok) return;
    speakers = data;
    renderLanes();
  }

  function regionOf(clip) {
    return regions ? regions.getRegions().find((r) => r.id === String(clip.id)) : null;
  }

  // --- clip playback: one shared <audio>, each clip's own WAV --------------------------------
  // `fromTable`: the click came from the clip table, whose row may then be scrolled into view
  // inside its own box; a click on the waveform or a lane never scrolls the page (the waveform
  // the person is looking at stays where it is).
  function playClip(clip, { fromTable = false } = {}) {
    if (ws && ws.isPlaying()) ws.pause();
    if (playingClip && playingClip.id === clip.id && !clipAudio.paused) {
      stopClip();
      return;
    }
    stopClip();
    playingClip = clip;
    clipAudio.src = clip.audio_url;
    clipAudio.play().catch((err) => console.warn("clip playback:", err));
    markPlaying(clip, true, fromTable);
  }

  function stopClip() {
    if (!playingClip) return;
    clipAudio.pause();
    markPlaying(playingClip, false);
    playingClip = null;
  }

  function markPlaying(clip, on, fromTable = false) {
    const row = document.querySelector(`#clips tr[data-clip="${clip.id}"]`);
    if (row) {
      row.classList.toggle("is-playing", on);
      const btn = row.querySelector("button");
      btn.textContent = on ? "❚❚" : "▶";
      btn.setAttribute("aria-label", `${on ? "Stop" : "Play"} clip ${clip.id}`);
      if (on && fromTable) row.scrollIntoView({ block: "nearest" });
    }
    const region = regionOf(clip);
    if (region) region.setOptions({ color: on ? ACTIVE_COLOR : shadeOf.get(String(clip.id)) || regionColor(clip, 0) });
  }

  clipAudio && clipAudio.addEventListener("ended", stopClip);

  document.addEventListener("keydown", (e) => {
    if (e.code !== "Space" && e.key !== " ") return;
    if (e.target.closest("input, textarea, select, button, a, summary, [contenteditable], .topbar")) return;
    e.preventDefault();
    if (playingClip) {
      if (clipAudio.paused) clipAudio.play(); else clipAudio.pause();
    } else if (ws) {
      ws.playPause();
    }
  });

  // --- clip table ---------------------------------------------------------------------------
  const num = (v, digits, unit) => (v == null ? "–" : `${Number(v).toFixed(digits)}${unit}`);

  function renderClips() {
    const tbody = document.querySelector("#clips tbody");
    const count = document.getElementById("clip-count");
    count.textContent = clips.length ? `${clips.length} clip${clips.length === 1 ? "" : "s"}` : "";
    if (!clips.length) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: "9", class: "empty", text: "No clips yet." })));
      return;
    }
    const frag = document.createDocumentFragment();
    for (const clip of clips) {
      frag.append(
        el("tr", { "data-clip": clip.id },
          el("td", {}, el("button", { type: "button", class: "btn btn-secondary btn-icon", "aria-label": `Play clip ${clip.id}`, onclick: () => playClip(clip, { fromTable: true }) }, "▶")),
          el("td", { class: "nowrap mono small" }, `${fmtTime(clip.start_s)} – ${fmtTime(clip.end_s)}`),
          el("td", { class: "num" }, num(clip.duration_s, 2, " s")),
          el("td", { class: "num" }, num(clip.level_dbfs, 1, " dBFS")),
          el("td", { class: "num" }, num(clip.snr_db, 1, " dB")),
          el("td", { class: "num" }, clip.speech_ratio == null ? "–" : `${Math.round(clip.speech_ratio * 100)} %`),
          el("td", { class: "small" }, clip.speaker_label || clip.speaker || "–"),
          el("td", { class: "num" }, clip.one_speaker_conf == null ? "–" : clip.one_speaker_conf.toFixed(2)),
          el("td", {}, el("span", { class: `badge badge-${clip.status}`, text: clip.status.replace(/_/g, " ") })),
        )
      );
    }
    tbody.replaceChildren(frag);
  }

  async function loadClips() {
    const { ok, data } = await api(cfg.clipsUrl);
    if (!ok) return;
    stopClip();
    clips = data;
    clipsById = new Map(clips.map((c) => [String(c.id), c]));
    renderClips();
    renderRegions();
    renderLanes();
  }

  // --- summary and histogram ----------------------------------------------------------------
  async function loadSummary() {
    const { ok, data } = await api(cfg.summaryUrl);
    if (!ok) return;
    const fig = (key, text) => { const node = document.querySelector(`[data-fig="${key}"]`); if (node) node.textContent = text; };
    fig("count", String(data.count));
    fig("total_s", fmtDuration(data.total_s));
    for (const key of ["mean_s", "median_s", "min_s", "max_s"]) fig(key, data[key] == null ? "–" : `${data[key].toFixed(2)} s`);
    drawHistogram(document.getElementById("histogram"), data.histogram);
  }

  function drawHistogram(holder, hist) {
    const chart = durationHistogram(hist);
    holder.replaceChildren(chart || el("p", { class: "empty", text: "No clips to chart yet." }));
  }

  // --- segmentation runs: progress and "Segment again" --------------------------------------
  const runCard = document.getElementById("run-progress");
  let pollTimer = null;

  function updateRunRow(run) {
    const tbody = document.querySelector("#runs tbody");
    if (!tbody) return;
    let row = tbody.querySelector(`tr[data-run="${run.id}"]`);
    if (!row) {
      tbody.querySelector("td.empty")?.parentElement.remove();
      row = el("tr", { "data-run": run.id });
      tbody.prepend(row);
    }
    const label = run.status.charAt(0).toUpperCase() + run.status.slice(1);
    row.replaceChildren(
      el("td", {}, String(run.id)),
      el("td", {}, el("span", { class: `badge badge-${run.status}`, text: label }), run.error ? el("div", { class: "small error-text", text: run.error }) : null),
      el("td", {}, run.detector === "silero" ? "Silero VAD" : "WebRTC VAD"),
      el("td", { class: "small muted hide-sm" }, `aggr. ${run.aggressiveness} · ${run.frame_ms} ms frames · ${run.min_clip_s}–${run.max_clip_s} s · gap ${run.merge_gap_ms} ms${run.refine ? " · refined" : ""}`),
      el("td", { class: "num" }, run.n_clips_created == null ? "–" : String(run.n_clips_created)),
      el("td", { class: "num hide-sm" }, run.n_clips_kept == null ? "–" : String(run.n_clips_kept)),
      el("td", { class: "small muted nowrap hide-sm" }, run.started_at ? new Date(run.started_at).toLocaleString() : "–"),
    );
  }

  function showRun(run) {
    if (!runCard) return true;
    const bar = runCard.querySelector(".progress");
    const badge = document.getElementById("run-badge");
    const label = document.getElementById("run-label");
    const finished = run.status === "succeeded" || run.status === "failed";
    runCard.classList.remove("hidden");
    runCard.querySelector("h2").textContent = finished ? `Segmentation #${run.id} finished` : `Segmentation #${run.id} in progress`;
    badge.className = `badge badge-${run.status}`;
    badge.textContent = run.status;
    setProgress(bar, finished ? 1 : run.progress, { done: run.status === "succeeded", failed: run.status === "failed" });
    if (run.status === "succeeded") {
      label.textContent = `${window.Studio.plural(run.n_clips_created ?? 0, "clip")} created, ${run.n_clips_replaced ?? 0} replaced, ${run.n_clips_kept ?? 0} kept.`;
    } else if (run.status === "failed") {
      label.textContent = run.error || "The segmentation failed.";
      label.classList.add("error-text");
    } else {
      label.classList.remove("error-text");
      label.textContent = `${Math.round((run.progress || 0) * 100)} %`;
    }
    updateRunRow(run);
    return finished;
  }

  async function refreshRecordingStatus(run) {
    const badge = document.getElementById("recording-status");
    if (!badge) return;
    if (run.status === "succeeded") {
      badge.className = "badge badge-segmented";
      badge.textContent = "Segmented";
    } else if (run.status === "failed") {
      badge.className = "badge badge-failed";
      badge.textContent = "Segmentation failed";
    }
  }

  function pollRun(id) {
    clearInterval(pollTimer);
    const tick = async () => {
      const { ok, data } = await api(runUrl(id)).catch(() => ({ ok: false }));
      if (!ok) return;
      if (showRun(data)) {
        clearInterval(pollTimer);
        pollTimer = null;
        setSegmentBusy(false);
        refreshRecordingStatus(data);
        if (failed) { window.location.reload(); return; } // the page has no waveform or clip table yet
        await Promise.all([loadClips(), loadSpeakers(), loadSummary()]);
      }
    };
    pollTimer = setInterval(tick, POLL_MS);
    tick();
  }

  const segForm = document.getElementById("segment-form");
  const segMsg = document.getElementById("segment-message");
  function setSegmentBusy(busy) {
    const btn = document.getElementById("segment-submit");
    if (btn) btn.disabled = busy;
  }

  function updateDetectorFields() {
    const detector = segForm.detector.value;
    for (const node of segForm.querySelectorAll("[data-detector]")) {
      node.classList.toggle("hidden", node.dataset.detector !== detector);
    }
  }

  if (segForm) {
    segForm.detector.addEventListener("change", updateDetectorFields);
    updateDetectorFields();
    segForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { detector: segForm.detector.value };
      for (const field of segForm.querySelectorAll("[data-type]")) {
        if (field.closest(".hidden")) continue; // the other detector's settings
        const t = field.dataset.type;
        if (t === "bool") body[field.name] = field.checked;
        else if (field.value !== "") body[field.name] = t === "int" ? parseInt(field.value, 10) : parseFloat(field.value);
      }
      setSegmentBusy(true);
      segMsg.className = "small muted";
      segMsg.textContent = "Queuing…";
      const { status, data } = await api(cfg.segmentUrl, { method: "POST", body }).catch(() => ({ status: 0, data: null }));
      if (status === 202) {
        segMsg.className = "small";
        segMsg.textContent = `Segmentation #${data.id} queued.`;
        showRun(data);
        pollRun(data.id);
      } else {
        setSegmentBusy(false);
        segMsg.className = "small error-text";
        segMsg.textContent = (data && data.detail) || `The server answered ${status || "nothing"}.`;
      }
    });
  }

  const redecodeForm = document.getElementById("redecode-form");
  if (redecodeForm) {
    redecodeForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const msg = document.getElementById("redecode-message");
      const btn = document.getElementById("redecode-submit");
      btn.disabled = true;
      msg.className = "small muted";
      msg.textContent = "Decoding the chosen track…";
      const body = { audio_track: parseInt(redecodeForm.audio_track.value, 10) };
      const { status, data } = await api(cfg.redecodeUrl, { method: "POST", body })
        .catch(() => ({ status: 0, data: null }));
      if (status === 202) {
        msg.className = "small";
        msg.textContent = `Track ${data.audio_track} decoded; segmenting…`;
        window.location.reload();
      } else {
        btn.disabled = false;
        msg.className = "small error-text";
        msg.textContent = (data && data.detail) || `The server answered ${status || "nothing"}.`;
      }
    });
  }

  // --- start --------------------------------------------------------------------------------
  if (!failed) {
    loadWaveform();
    loadClips();
    loadSpeakers();
    loadSummary();
    if (cfg.latestRun && (cfg.latestRunStatus === "queued" || cfg.latestRunStatus === "running")) {
      setSegmentBusy(true);
      pollRun(cfg.latestRun);
    }
  }
})();
