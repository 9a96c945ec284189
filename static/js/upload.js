/* Upload page: each file is its own POST /api/recordings/ (XMLHttpRequest, for upload progress),
   at most MAX_PARALLEL at a time; then the segmentation run of each new recording is polled. */
(function () {
  "use strict";
  const { el, fmtBytes, csrfToken, setProgress, progressBar, api } = window.Studio;

  const MAX_PARALLEL = 2;
  const POLL_MS = 1000;

  const form = document.getElementById("upload-form");
  const input = document.getElementById("files");
  const zone = document.getElementById("dropzone");
  const list = document.getElementById("uploads");
  const empty = document.getElementById("uploads-empty");
  const formError = document.getElementById("form-error");
  const startPending = document.getElementById("start-pending");
  const summary = document.getElementById("queue-summary");
  const projectSelect = document.getElementById("project");
  const datalist = document.getElementById("source-titles");
  const runUrl = (id) => form.dataset.runApi.replace(/\/0\/$/, `/${id}/`);

  const waiting = []; // files not started because the form was incomplete
  const queue = []; // files ready to send
  let active = 0;
  let done = 0;
  let total = 0;

  // Titles of other projects stay out of the suggestions.
  const allTitles = Array.from(datalist.options).map((o) => ({ value: o.value, project: o.dataset.project }));
  function filterTitles() {
    const titles = new Set(allTitles.filter((t) => t.project === projectSelect.value).map((t) => t.value));
    datalist.replaceChildren(...Array.from(titles, (value) => el("option", { value })));
  }
  projectSelect.addEventListener("change", filterTitles);
  filterTitles();

  function metadata() {
    const title = form.source_title.value.trim();
    if (!projectSelect.value) return { error: "You belong to no project: nothing can be uploaded." };
    if (!title) return { error: "Name the series or programme first (step 1); the files wait until then." };
    return {
      project: projectSelect.value,
      source_title: title,
      episode: form.episode.value.trim(),
      channel: form.channel.value.trim(),
      air_date: form.air_date.value, // YYYY-MM-DD from <input type=date>, or "" (then omitted)
      audio_track: form.audio_track.value, // "" = the platform chooses (language, default flag)
    };
  }

  function updateSummary() {
    const parts = [];
    if (active) parts.push(`${active} uploading`);
    if (queue.length) parts.push(`${queue.length} queued`);
    if (waiting.length) parts.push(`${waiting.length} waiting for the form`);
    if (done) parts.push(`${done} of ${total} finished`);
    summary.textContent = parts.join(" · ");
    startPending.classList.toggle("hidden", waiting.length === 0);
    empty.classList.toggle("hidden", total > 0);
  }

  function makeRow(file) {
    const bar = progressBar(`Upload of ${file.name}`);
    const status = el("div", { class: "u-status muted", text: "Queued" });
    const runBox = el("div", { class: "run-progress hidden" });
    const row = el(
      "li",
      { class: "upload-item", "data-file": file.name },
      el("div", { class: "u-name", text: file.name }),
      el("div", { class: "u-size", text: fmtBytes(file.size) }),
      el("div", { class: "u-body" }, bar, status, runBox)
    );
    list.append(row);
    return { file, row, bar, status, runBox };
  }

  function addFiles(files) {
    if (!files || !files.length) return;
    const meta = metadata();
    for (const file of files) {
      const item = makeRow(file);
      total += 1;
      if (meta.error) {
        item.status.textContent = "Waiting: fill in the form above, then press “Upload waiting files”.";
        waiting.push(item);
      } else {
        item.meta = meta;
        queue.push(item);
      }
    }
    showFormError(meta.error);
    pump();
  }

  function showFormError(message) {
    formError.textContent = message || "";
    formError.classList.toggle("hidden", !message);
    if (message && !form.source_title.value.trim()) form.source_title.focus();
  }

  function pump() {
    while (active < MAX_PARALLEL && queue.length) {
      active += 1;
      send(queue.shift());
    }
    updateSummary();
  }

  function finish(item, kind) {
    item.row.classList.add(kind === "error" ? "is-error" : "is-done");
    active -= 1;
    done += 1;
    pump();
  }

  function setStatus(item, text, cls) {
    item.status.className = "u-status " + (cls || "");
    item.status.replaceChildren(...(Array.isArray(text) ? text : [text]));
  }

  function send(item) {
    const data = new FormData();
    data.append("file", item.file, item.file.name);
    for (const [key, value] of Object.entries(item.meta)) {
      if (value !== "") data.append(key, value);
    }
    data.append("segment", "true");

    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.api);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    setStatus(item, "Uploading…", "muted");

    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        const pct = Math.round((100 * e.loaded) / e.total);
        setProgress(item.bar, e.loaded / e.total);
        setStatus(item, `Uploading… ${pct} %`, "muted");
      }
    });
    // Every byte is sent: the server now decodes (and, with an eager worker, segments).
    xhr.upload.addEventListener("load", () => {
      setProgress(item.bar, 1, { done: true });
      setStatus(item, "Processing… (decoding on the server)", "muted");
    });
    xhr.addEventListener("error", () => {
      setProgress(item.bar, 1, { failed: true });
      setStatus(item, "Network error: the upload did not reach the server.", "error-text");
      finish(item, "error");
    });
    xhr.addEventListener("load", () => handleAnswer(item, xhr.status, xhr.response));
    xhr.send(data);
  }

  function recordingLink(body, text) {
    return el("a", { href: body.url, class: "u-link" }, text || `Recording #${body.id}`);
  }

  /* One line per upload: the server's sentence ("Ingested as recording #2 (50.0 s of audio).")
     with its "recording #2" as the link, rather than the same facts three times. */
  function answerLine(body, fallback) {
    const name = `recording #${body.id}`;
    const detail = body.detail || "";
    const at = detail.indexOf(name);
    if (at < 0) return [el("strong", { text: fallback }), " · ", recordingLink(body, `Open ${name}`)];
    return [detail.slice(0, at), recordingLink(body, name), detail.slice(at + name.length)];
  }

  function handleAnswer(item, code, body) {
    body = body && typeof body === "object" ? body : {};
    if (code === 201) {
      setProgress(item.bar, 1, { done: true });
      setStatus(item, answerLine(body, "Ingested"), "");
      if (body.segmentation_run) watchRun(item, body.segmentation_run);
      finish(item, "ok");
    } else if (code === 200 && body.duplicate) {
      setProgress(item.bar, 1, { done: true });
      setStatus(item, answerLine(body, "Already ingested"), "");
      finish(item, "ok");
    } else {
      setProgress(item.bar, 1, { failed: true });
      const message = body.detail || (code ? `The server answered ${code}.` : "No answer from the server.");
      const parts = [el("span", { class: "u-error", text: message })];
      // 422: the file was kept as a failed recording, which has its own page.
      if (body.url) parts.push(" · ", recordingLink(body, "see the recording"));
      setStatus(item, parts, "error-text");
      finish(item, "error");
    }
  }

  function watchRun(item, run) {
    const bar = progressBar("Segmentation");
    const label = el("div", { class: "progress-label" });
    item.runBox.replaceChildren(label, bar);
    item.runBox.classList.remove("hidden");

    function show(r) {
      const finished = r.status === "succeeded" || r.status === "failed";
      setProgress(bar, finished ? 1 : r.progress, { done: r.status === "succeeded", failed: r.status === "failed" });
      if (r.status === "succeeded") {
        label.replaceChildren(el("span", { class: "badge badge-succeeded", text: "Segmented" }), ` ${window.Studio.plural(r.n_clips_created ?? 0, "clip")} created`);
      } else if (r.status === "failed") {
        label.replaceChildren(el("span", { class: "badge badge-failed", text: "Segmentation failed" }), " ", el("span", { class: "error-text", text: r.error || "" }));
      } else {
        label.replaceChildren(el("span", { class: `badge badge-${r.status}`, text: r.status === "queued" ? "Queued" : "Segmenting" }), ` ${Math.round((r.progress || 0) * 100)} %`);
      }
      return finished;
    }

    if (show(run)) return;
    const timer = setInterval(async () => {
      const { ok, data } = await api(runUrl(run.id)).catch(() => ({ ok: false }));
      if (ok && show(data)) clearInterval(timer);
    }, POLL_MS);
  }

  // --- input: picker, drag and drop, retry ---------------------------------------------------
  input.addEventListener("change", () => {
    addFiles(Array.from(input.files));
    input.value = ""; // the same file may be chosen again
  });

  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add("is-over");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      if (type === "drop" || !zone.contains(e.relatedTarget)) zone.classList.remove("is-over");
    });
  }
  zone.addEventListener("drop", (e) => addFiles(Array.from(e.dataTransfer.files)));
  // A file dropped beside the zone must not make the browser navigate away from the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const meta = metadata();
    showFormError(meta.error);
    if (meta.error) return;
    while (waiting.length) {
      const item = waiting.shift();
      item.meta = meta;
      setStatus(item, "Queued", "muted");
      queue.push(item);
    }
    pump();
  });

  window.addEventListener("beforeunload", (e) => {
    if (active || queue.length) {
      e.preventDefault();
      e.returnValue = "";
    }
  });

  updateSummary();
})();
