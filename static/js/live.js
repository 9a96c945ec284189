/* Live inference page: microphone chunks and file upload against POST /api/inference/.

   Microphone: Web Audio captures mono PCM (the browser resamples to 16 kHz when it can; otherwise
   the WAV header carries the context's rate and the server resamples). Every 2 s of samples is
   encoded as a 16-bit PCM WAV and posted with mode=chunk, without waiting for earlier answers; at
   most MAX_IN_FLIGHT requests wait at once, and a chunk that finds them all busy is dropped (and
   counted), so a slow server makes the page skip audio rather than fall behind.
   File: the chosen file is posted with mode=file; the answer's segments are drawn along the
   file's duration and listed, and play from the local copy (an object URL). */
(function () {
  "use strict";
  const root = document.getElementById("live-page");
  if (!root) return;
  const { el, csrfToken, fmtTime } = window.Studio;
  const API = root.dataset.api;

  const CHUNK_S = 2;
  const TARGET_RATE = 16000;
  const MAX_IN_FLIGHT = 2;
  const ROLLING = 30;
  const KNOWN = ["angry", "happy", "sad", "neutral", "calm", "fear", "disgust", "surprise"];
  const EXTRA = ["#a05a7a", "#4b7bd1", "#8c6d1f", "#1f8c8c", "#b0479a", "#5d6b2f"];
  const extraIndex = new Map();

  /* One colour per class: the house colours for the known emotions, then a fixed palette in order
     of first appearance, so a class keeps its colour for the whole page. */
  function colour(label) {
    if (KNOWN.includes(label)) return `var(--emo-${label})`;
    if (!extraIndex.has(label)) extraIndex.set(label, extraIndex.size % EXTRA.length);
    return EXTRA[extraIndex.get(label)];
  }
  const pct = (p) => `${Math.round((Number(p) || 0) * 100)} %`;
  const ms = (v) => (v == null || isNaN(v) ? "–" : `${Math.round(v)} ms`);

  function median(values) {
    if (!values.length) return null;
    const s = [...values].sort((a, b) => a - b);
    const mid = s.length >> 1;
    return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  }

  function topOf(probabilities) {
    let best = null;
    for (const [label, p] of Object.entries(probabilities || {})) if (!best || p > best[1]) best = [label, p];
    return best || [null, 0];
  }

  /* The answer's `detail`, else a sentence for the status (413 may come from a proxy, as HTML). */
  function errorText(status, data) {
    if (data && typeof data.detail === "string" && data.detail) return data.detail;
    if (data && typeof data === "object") {
      const first = Object.entries(data)[0];
      if (first) return `${first[0]}: ${[].concat(first[1]).join(" ")}`;
    }
    if (status === 413) return "The file is too long or too large for the server.";
    if (status === 422) return "The file could not be decoded as audio.";
    if (status === 403) return "You are not allowed to run the models (ask for the ML staff or curator role).";
    if (status === 0) return "The server could not be reached.";
    return `The server answered ${status}.`;
  }

  function legend(list, labels, withSilence) {
    list.replaceChildren(
      ...labels.map((l) => el("li", {}, Object.assign(el("span", { class: "swatch" }), { style: `--emo:${colour(l)}` }), l)),
      ...(withSilence ? [el("li", {}, el("span", { class: "swatch is-silence" }), "silence")] : []),
    );
  }

  /* 16-bit PCM WAV (RIFF) of mono float samples in [-1, 1]. */
  function encodeWav(samples, rate) {
    const buffer = new ArrayBuffer(44 + samples.length * 2);
    const v = new DataView(buffer);
    const ascii = (offset, text) => { for (let i = 0; i < text.length; i++) v.setUint8(offset + i, text.charCodeAt(i)); };
    ascii(0, "RIFF");
    v.setUint32(4, 36 + samples.length * 2, true);
    ascii(8, "WAVE");
    ascii(12, "fmt ");
    v.setUint32(16, 16, true); // fmt chunk size
    v.setUint16(20, 1, true); // PCM
    v.setUint16(22, 1, true); // mono
    v.setUint32(24, rate, true);
    v.setUint32(28, rate * 2, true); // byte rate
    v.setUint16(32, 2, true); // block align
    v.setUint16(34, 16, true); // bits per sample
    ascii(36, "data");
    v.setUint32(40, samples.length * 2, true);
    for (let i = 0, o = 44; i < samples.length; i++, o += 2) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      v.setInt16(o, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new Blob([buffer], { type: "audio/wav" });
  }

  const modelSelect = document.getElementById("model-version");
  const modelId = () => (modelSelect && modelSelect.value) || "";

  /* ---------------------------------------------------------------------------------------- */
  /* Tabs                                                                                      */
  /* ---------------------------------------------------------------------------------------- */
  const tabs = [...root.querySelectorAll('[role="tab"]')];
  function selectTab(tab, focus) {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    }
    if (focus) tab.focus();
  }
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (step) { e.preventDefault(); selectTab(tabs[(i + step + tabs.length) % tabs.length], true); }
    });
  });

  /* ---------------------------------------------------------------------------------------- */
  /* Microphone                                                                                */
  /* ---------------------------------------------------------------------------------------- */
  const ui = {
    toggle: document.getElementById("mic-toggle"),
    toggleText: root.querySelector(".mic-toggle-text"),
    status: document.getElementById("mic-status"),
    error: document.getElementById("mic-error"),
    level: document.getElementById("level-fill"),
    label: document.getElementById("current-label"),
    prob: document.getElementById("current-prob"),
    chart: document.getElementById("prob-chart"),
    chunkModel: document.getElementById("chunk-model"),
    rolling: document.getElementById("rolling"),
    rollingLegend: document.getElementById("rolling-legend"),
    info: document.getElementById("capture-info"),
    fig: Object.fromEntries(["n-sent", "n-answered", "n-dropped", "n-silent", "rtt-last", "rtt-median", "server-last", "server-median"]
      .map((id) => [id, document.getElementById(id)])),
  };

  // Capture worklet, loaded from a Blob URL so that the page needs no second script file. It
  // mixes the input down to mono and posts blocks of ~1024 frames (transferring the buffers).
  const WORKLET = `
    class Tap extends AudioWorkletProcessor {
      constructor() { super(); this.buf = new Float32Array(1024); this.n = 0; }
      process(inputs) {
        const chans = inputs[0];
        if (chans && chans.length) {
          const frames = chans[0].length;
          for (let i = 0; i < frames; i++) {
            let s = 0;
            for (let c = 0; c < chans.length; c++) s += chans[c][i];
            this.buf[this.n++] = s / chans.length;
            if (this.n === this.buf.length) {
              this.port.postMessage(this.buf, [this.buf.buffer]);
              this.buf = new Float32Array(1024);
              this.n = 0;
            }
          }
        }
        return true;
      }
    }
    registerProcessor("studio-tap", Tap);`;

  let session = null; // one object per Start; answers from an older session are ignored
  let sessionCount = 0;

  function resetStats() {
    return { sent: 0, answered: 0, dropped: 0, silent: 0, errors: 0, consecutiveErrors: 0, rtt: [], server: [], shownSeq: 0 };
  }

  function setState(state) { root.dataset.state = state; }

  function showMicError(text) {
    ui.error.textContent = text;
    ui.error.classList.toggle("hidden", !text);
  }

  function renderFigures(stats) {
    ui.fig["n-sent"].textContent = stats.sent;
    ui.fig["n-answered"].textContent = stats.answered;
    ui.fig["n-dropped"].textContent = stats.dropped;
    ui.fig["n-silent"].textContent = stats.silent;
    ui.fig["rtt-last"].textContent = ms(stats.rtt[stats.rtt.length - 1]);
    ui.fig["rtt-median"].textContent = ms(median(stats.rtt));
    ui.fig["server-last"].textContent = ms(stats.server[stats.server.length - 1]);
    ui.fig["server-median"].textContent = ms(median(stats.server));
    ui.fig["rtt-median"].dataset.ms = median(stats.rtt) ?? "";
    ui.fig["server-median"].dataset.ms = median(stats.server) ?? "";
  }

  /* A Charts (Chart.js) bar per label, 0–100 %: made when the label set changes, then only its
     values change. The chart's data is what the tests read (Charts.describe). */
  let chartLabels = [];
  let probChart = null;
  function renderBars(labels, probabilities) {
    if (labels.join("|") !== chartLabels.join("|") || !probChart) {
      chartLabels = [...labels];
      const css = getComputedStyle(document.documentElement);
      const solid = (c) => (c.startsWith("var(") ? css.getPropertyValue(c.slice(4, -1)).trim() || "#667085" : c);
      probChart = Charts.bars(ui.chart, labels.map((l) => ({ label: l, value: 0, colour: solid(colour(l)) })), {
        valueTitle: "Probability (%)", categoryTitle: "Emotion", horizontal: true, min: 0, max: 100,
        tooltip: (r) => `${r.label}: ${pct((probChart.data.datasets[0].data[chartLabels.indexOf(r.label)] || 0) / 100)}`,
        label: "Probability of each emotion for the last chunk", empty: "No model answer yet.",
      });
      legend(ui.rollingLegend, labels, true);
    }
    ui.chart.classList.toggle("is-stale", !probabilities);
    if (!probabilities || !probChart) return;
    const [top] = topOf(probabilities);
    probChart.data.datasets[0].data = chartLabels.map((l) => Math.round(Number(probabilities[l] || 0) * 1000) / 10);
    probChart.update("none");
    ui.chart.dataset.top = top;
  }

  function pushRolling(kind, label, title) {
    const item = el("li", { class: kind === "label" ? "" : `is-${kind}`, title, "data-label": label || kind });
    if (kind === "label") item.style.setProperty("--emo", colour(label));
    ui.rolling.append(item);
    while (ui.rolling.children.length > ROLLING) ui.rolling.firstElementChild.remove();
  }

  function showAnswer(s, seq, data) {
    const labels = data.labels || [];
    if (data.model_version) ui.chunkModel.textContent = `${data.model_version.name} · ${data.model_version.family}`;
    if (data.silence || !data.segments || !data.segments.length) {
      s.stats.silent += 1;
      ui.label.textContent = "silence";
      ui.label.dataset.label = "silence";
      ui.label.classList.add("is-silence");
      ui.label.style.removeProperty("--emo");
      ui.prob.textContent = `Chunk ${seq}: no speech heard.`;
      renderBars(labels, null);
      pushRolling("silence", null, `chunk ${seq}: silence`);
      return;
    }
    // One segment in chunk mode; should the server ever return several, the longest speaks.
    const seg = data.segments.reduce((a, b) => (b.end - b.start > a.end - a.start ? b : a));
    const [, p] = topOf(seg.probabilities);
    ui.label.textContent = seg.label;
    ui.label.dataset.label = seg.label;
    ui.label.classList.remove("is-silence");
    ui.label.style.setProperty("--emo", colour(seg.label));
    ui.prob.textContent = `${pct(p)} · chunk ${seq}`;
    renderBars(labels, seg.probabilities);
    pushRolling("label", seg.label, `chunk ${seq}: ${seg.label} ${pct(p)}`);
  }

  async function sendChunk(s, samples) {
    const seq = ++s.seq;
    if (s.inFlight >= MAX_IN_FLIGHT) {
      s.stats.dropped += 1;
      renderFigures(s.stats);
      return;
    }
    s.inFlight += 1;
    s.stats.sent += 1;
    renderFigures(s.stats);
    const form = new FormData();
    form.append("file", encodeWav(samples, s.rate), `chunk-${seq}.wav`);
    form.append("mode", "chunk");
    if (modelId()) form.append("model_version", modelId());
    const t0 = performance.now();
    let status = 0, data = null;
    try {
      const response = await fetch(API, {
        method: "POST", body: form, credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      });
      status = response.status;
      try { data = await response.json(); } catch (e) { data = null; }
    } catch (e) {
      status = 0;
    }
    const rtt = performance.now() - t0;
    s.inFlight -= 1;
    if (s !== session) return; // a newer session started meanwhile
    if (status === 200 && data) {
      s.stats.answered += 1;
      s.stats.consecutiveErrors = 0;
      s.stats.rtt.push(rtt);
      if (typeof data.latency_ms === "number") s.stats.server.push(data.latency_ms);
      // Answers can overtake each other: only a newer chunk than the one shown replaces it.
      if (seq > s.stats.shownSeq) {
        s.stats.shownSeq = seq;
        showAnswer(s, seq, data);
      }
      showMicError("");
    } else {
      s.stats.errors += 1;
      s.stats.consecutiveErrors += 1;
      pushRolling("error", null, `chunk ${seq}: error ${status}`);
      showMicError(errorText(status, data));
      // A refusal that will not go away by itself (no model, no permission) ends the session.
      if (s.running && (status === 400 || status === 403 || s.stats.consecutiveErrors >= 3)) stop("stopped after an error");
    }
    renderFigures(s.stats);
  }

  function onFrames(s, frames) {
    if (!s.running) return;
    // Level meter: RMS of the block in dBFS, -60..0 dB mapped to 0..100 %.
    let sum = 0;
    for (let i = 0; i < frames.length; i++) sum += frames[i] * frames[i];
    const db = 20 * Math.log10(Math.sqrt(sum / frames.length) + 1e-9);
    ui.level.style.width = `${Math.max(0, Math.min(100, ((db + 60) / 60) * 100)).toFixed(0)}%`;
    s.blocks.push(frames);
    s.buffered += frames.length;
    const need = s.rate * CHUNK_S;
    while (s.buffered >= need) {
      // Cut exactly `need` samples: consecutive chunks tile the audio without gap or overlap.
      const chunk = new Float32Array(need);
      let filled = 0;
      while (filled < need) {
        const head = s.blocks[0];
        const take = Math.min(head.length, need - filled);
        chunk.set(head.subarray(0, take), filled);
        filled += take;
        if (take === head.length) s.blocks.shift();
        else s.blocks[0] = head.subarray(take);
      }
      s.buffered -= need;
      sendChunk(s, chunk);
    }
  }

  async function openContext() {
    // Ask the browser for 16 kHz (its resampler does the work); fall back to the device rate.
    try {
      return new AudioContext({ sampleRate: TARGET_RATE, latencyHint: "interactive" });
    } catch (e) {
      return new AudioContext({ latencyHint: "interactive" });
    }
  }

  async function start() {
    showMicError("");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showMicError("This browser gives no microphone access here: the page must be served over HTTPS (or from localhost).");
      return;
    }
    const s = { running: true, seq: 0, inFlight: 0, blocks: [], buffered: 0, stats: resetStats(), id: ++sessionCount };
    session = s;
    setState("starting");
    ui.toggle.disabled = true;
    ui.status.textContent = "Asking for the microphone…";
    try {
      s.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (e) {
      ui.toggle.disabled = false;
      setState("error");
      const denied = e && (e.name === "NotAllowedError" || e.name === "SecurityError");
      showMicError(denied ? "The microphone was refused. Allow it in the browser's site settings, then press Start again."
        : `No microphone could be opened (${(e && e.name) || e}).`);
      ui.status.textContent = "";
      session = null;
      return;
    }
    try {
      s.ctx = await openContext();
      s.source = s.ctx.createMediaStreamSource(s.stream);
      s.sink = s.ctx.createGain();
      s.sink.gain.value = 0; // keeps the graph pulled without playing the voice back
      s.sink.connect(s.ctx.destination);
      let tap;
      if (s.ctx.audioWorklet) {
        const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
        try { await s.ctx.audioWorklet.addModule(url); } finally { URL.revokeObjectURL(url); }
        tap = new AudioWorkletNode(s.ctx, "studio-tap", { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: "explicit" });
        tap.port.onmessage = (e) => onFrames(s, e.data);
      } else {
        // Older browsers: the deprecated ScriptProcessorNode does the same on the main thread.
        tap = s.ctx.createScriptProcessor(4096, 1, 1);
        tap.onaudioprocess = (e) => onFrames(s, new Float32Array(e.inputBuffer.getChannelData(0)));
      }
      s.source.connect(tap);
      tap.connect(s.sink);
      s.tap = tap;
      s.rate = s.ctx.sampleRate;
      if (s.ctx.state === "suspended") await s.ctx.resume();
    } catch (e) {
      teardown(s);
      ui.toggle.disabled = false;
      setState("error");
      showMicError(`The audio capture could not start: ${e.message || e}`);
      session = null;
      return;
    }
    // Fresh display for the session.
    ui.rolling.replaceChildren();
    ui.label.textContent = "…";
    ui.label.dataset.label = "";
    ui.label.classList.remove("is-silence");
    ui.label.style.removeProperty("--emo");
    ui.prob.textContent = "Listening: the first answer comes after 2 s.";
    renderFigures(s.stats);
    const track = s.stream.getAudioTracks()[0];
    ui.info.textContent = `Capturing "${(track && track.label) || "microphone"}" at ${s.rate} Hz mono; chunks of ${CHUNK_S} s, 16-bit WAV` +
      (s.rate === TARGET_RATE ? "." : ` (the server resamples to ${TARGET_RATE / 1000} kHz).`);
    ui.toggle.disabled = false;
    ui.toggle.setAttribute("aria-pressed", "true");
    ui.toggleText.textContent = "Stop";
    ui.status.textContent = "Listening…";
    setState("recording");
  }

  function teardown(s) {
    s.running = false;
    try { if (s.tap) { s.tap.disconnect(); if (s.tap.port) s.tap.port.onmessage = null; } } catch (e) { /* already gone */ }
    try { if (s.source) s.source.disconnect(); } catch (e) { /* already gone */ }
    if (s.stream) for (const t of s.stream.getTracks()) t.stop();
    if (s.ctx && s.ctx.state !== "closed") s.ctx.close().catch(() => {});
  }

  function stop(reason) {
    const s = session;
    if (!s || !s.running) return;
    teardown(s); // answers still in flight land and are shown; the unfinished chunk is dropped
    ui.level.style.width = "0";
    ui.toggle.setAttribute("aria-pressed", "false");
    ui.toggleText.textContent = "Start";
    ui.status.textContent = `Stopped${reason ? ` (${reason})` : ""}: ${s.stats.sent} chunk(s) sent, ${s.stats.dropped} dropped.`;
    setState("stopped");
  }

  if (ui.toggle) {
    ui.toggle.addEventListener("click", () => (session && session.running ? stop() : start()));
  }
  window.addEventListener("pagehide", () => { if (session) teardown(session); });

  /* ---------------------------------------------------------------------------------------- */
  /* File                                                                                      */
  /* ---------------------------------------------------------------------------------------- */
  const f = {
    input: document.getElementById("file-input"),
    drop: document.getElementById("file-drop"),
    progress: document.getElementById("file-progress"),
    progressLabel: document.getElementById("file-progress-label"),
    error: document.getElementById("file-error"),
    result: document.getElementById("file-result"),
    name: document.getElementById("file-name"),
    summary: document.getElementById("file-summary"),
    audio: document.getElementById("file-audio"),
    silence: document.getElementById("file-silence"),
    timeline: document.getElementById("file-timeline"),
    playhead: document.getElementById("seg-playhead"),
    axis: document.getElementById("file-axis"),
    legend: document.getElementById("file-legend"),
    tip: document.getElementById("seg-tip"),
    tbody: document.querySelector("#segments-table tbody"),
  };
  const bar = f.progress.querySelector(".progress");
  let objectUrl = null;
  let segments = [];
  let duration = 0;
  let stopAt = null;
  let playingIndex = -1;
  let upload = null;

  function showFileError(text) {
    f.error.textContent = text;
    f.error.classList.toggle("hidden", !text);
  }

  function post(file) {
    // XHR rather than fetch: it reports upload progress, which matters for long broadcasts.
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      upload = xhr;
      const form = new FormData();
      form.append("file", file, file.name);
      form.append("mode", "file");
      if (modelId()) form.append("model_version", modelId());
      xhr.open("POST", API);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (e) => {
        if (!e.lengthComputable) return;
        window.Studio.setProgress(bar, e.loaded / e.total);
        f.progressLabel.textContent = `Uploading… ${Math.round((100 * e.loaded) / e.total)} %`;
      });
      xhr.upload.addEventListener("load", () => {
        window.Studio.setProgress(bar, 1, { indeterminate: true });
        f.progressLabel.textContent = "Finding speech and labelling each segment…";
      });
      const done = () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
        resolve({ status: xhr.status, data, aborted: xhr !== upload });
      };
      xhr.addEventListener("load", done);
      xhr.addEventListener("error", done);
      xhr.addEventListener("abort", done);
      xhr.send(form);
    });
  }

  async function analyse(file) {
    if (!file) return;
    if (upload) upload.abort();
    showFileError("");
    hideTip();
    f.result.classList.add("hidden");
    f.result.dataset.state = "loading";
    root.dataset.fileState = "loading";
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(file);
    f.progress.classList.remove("hidden");
    window.Studio.setProgress(bar, 0);
    f.progressLabel.textContent = "Uploading…";
    const t0 = performance.now();
    const { status, data, aborted } = await post(file);
    if (aborted) return;
    upload = null;
    f.progress.classList.add("hidden");
    if (status !== 200 || !data) {
      showFileError(errorText(status, data));
      f.result.dataset.state = "error";
      root.dataset.fileState = "error";
      return;
    }
    render(file, data, performance.now() - t0);
    root.dataset.fileState = "ready";
  }

  function render(file, data, rtt) {
    segments = data.segments || [];
    duration = Number(data.duration_s) || Math.max(0, ...segments.map((s) => s.end)) || 1;
    f.name.textContent = file.name;
    const mv = data.model_version || {};
    f.summary.textContent = `${window.Studio.fmtDuration(duration)} · ${segments.length} segment${segments.length === 1 ? "" : "s"} · ${mv.name || "model"} (${mv.family || "?"}) · server ${ms(data.latency_ms)}, round trip ${ms(rtt)}`;
    f.audio.src = objectUrl;
    f.silence.classList.toggle("hidden", !(data.silence || !segments.length));
    stopAt = null;
    playingIndex = -1;

    // Timeline blocks, positioned as fractions of the file's duration.
    for (const b of f.timeline.querySelectorAll(".seg-block")) b.remove();
    segments.forEach((seg, i) => {
      const [, p] = topOf(seg.probabilities);
      const block = el("button", {
        type: "button", class: "seg-block", "data-index": i, "data-label": seg.label,
        "aria-label": `Segment ${i + 1}, ${fmtTime(seg.start)} to ${fmtTime(seg.end)}: ${seg.label}, ${pct(p)}. Play.`,
        onclick: () => play(i), onmouseenter: (e) => showTip(i, e.currentTarget), onmouseleave: hideTip,
        onfocus: (e) => showTip(i, e.currentTarget), onblur: hideTip,
      }, seg.label.charAt(0).toUpperCase() + seg.label.slice(1));
      block.style.left = `${(100 * seg.start) / duration}%`;
      block.style.width = `${(100 * Math.max(0, seg.end - seg.start)) / duration}%`;
      block.style.setProperty("--emo", colour(seg.label));
      block.style.setProperty("--p", p.toFixed(3));
      f.timeline.append(block);
    });

    // Axis: about six round ticks.
    const step = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].find((s) => duration / s <= 6) || 7200;
    const ticks = [];
    for (let t = 0; t <= duration + 1e-6; t += step) ticks.push(t);
    f.axis.replaceChildren(...ticks.map((t) => {
      const span = el("span", { text: fmtTime(t).replace(/\.0$/, "") });
      span.style.left = `${(100 * t) / duration}%`;
      return span;
    }));
    legend(f.legend, data.labels || [...new Set(segments.map((s) => s.label))], false);

    f.tbody.replaceChildren(...(segments.length ? segments.map((seg, i) => {
      const [, p] = topOf(seg.probabilities);
      const swatch = el("span", { class: "swatch" });
      swatch.style.setProperty("--emo", colour(seg.label));
      return el("tr", { "data-index": i, onclick: () => play(i) },
        el("td", { class: "num", text: i + 1 }),
        el("td", { class: "num", text: fmtTime(seg.start) }),
        el("td", { class: "num", text: fmtTime(seg.end) }),
        el("td", {}, el("span", { class: "label-pill" }, swatch, seg.label)),
        el("td", { class: "num", text: pct(p) }),
        el("td", { class: "right" }, el("button", {
          type: "button", class: "btn btn-secondary btn-sm", "aria-label": `Play segment ${i + 1}`,
          onclick: (e) => { e.stopPropagation(); play(i); },
        }, "▶ Play")));
    }) : [el("tr", {}, el("td", { colspan: 6, class: "empty", text: "No speech segment in this file." }))]));

    f.result.dataset.state = "ready";
    f.result.classList.remove("hidden");
  }

  function markPlaying(i) {
    playingIndex = i;
    for (const b of f.timeline.querySelectorAll(".seg-block")) b.classList.toggle("is-playing", Number(b.dataset.index) === i);
    for (const r of f.tbody.querySelectorAll("tr[data-index]")) r.classList.toggle("is-playing", Number(r.dataset.index) === i);
  }

  function play(i) {
    const seg = segments[i];
    if (!seg) return;
    f.audio.currentTime = seg.start;
    stopAt = seg.end;
    markPlaying(i);
    f.audio.play().catch(() => {});
  }

  f.audio.addEventListener("timeupdate", () => {
    const t = f.audio.currentTime;
    if (stopAt != null && t >= stopAt) { f.audio.pause(); stopAt = null; }
    f.playhead.style.left = `${Math.min(100, (100 * t) / (duration || 1))}%`;
    f.playhead.classList.toggle("is-on", t > 0);
    if (f.audio.paused) return;
    // While playing, the segment under the playhead is highlighted in the timeline and table.
    const at = segments.findIndex((s) => t >= s.start && t < s.end);
    if (at !== playingIndex) markPlaying(at);
  });
  // A seek made with the player's own controls ends the "play this segment only" request.
  f.audio.addEventListener("seeked", () => {
    const seg = segments[playingIndex];
    if (stopAt != null && (!seg || f.audio.currentTime < seg.start - 0.05 || f.audio.currentTime > stopAt)) stopAt = null;
  });

  function showTip(i, block) {
    const seg = segments[i];
    const rows = Object.entries(seg.probabilities || {}).sort((a, b) => b[1] - a[1]).map(([label, p]) => {
      const fill = el("span");
      fill.style.width = `${(p * 100).toFixed(1)}%`;
      fill.style.setProperty("--emo", colour(label));
      return el("div", { class: "tip-row" }, el("span", { text: label }), el("div", { class: "tip-bar" }, fill), el("span", { class: "tip-val", text: pct(p) }));
    });
    f.tip.replaceChildren(el("div", { class: "tip-head", text: `#${i + 1} · ${fmtTime(seg.start)}–${fmtTime(seg.end)} · ${seg.label}` }), ...rows);
    f.tip.classList.remove("hidden");
    const card = f.tip.offsetParent || f.tip.parentElement;
    const cb = card.getBoundingClientRect(), bb = block.getBoundingClientRect();
    const left = Math.max(0, Math.min(cb.width - f.tip.offsetWidth, bb.left - cb.left + bb.width / 2 - f.tip.offsetWidth / 2));
    f.tip.style.left = `${left}px`;
    f.tip.style.top = `${bb.bottom - cb.top + 8}px`;
  }
  function hideTip() { f.tip.classList.add("hidden"); }

  f.input.addEventListener("change", () => analyse(f.input.files[0]));
  for (const type of ["dragenter", "dragover"]) {
    f.drop.addEventListener(type, (e) => { e.preventDefault(); f.drop.classList.add("is-over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    f.drop.addEventListener(type, () => f.drop.classList.remove("is-over"));
  }
  f.drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) analyse(file);
  });
  document.getElementById("file-form").addEventListener("submit", (e) => e.preventDefault());
})();
