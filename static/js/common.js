/* Helpers shared by every page: formatting, CSRF, JSON fetch. Exposed as window.Studio. */
(function () {
  "use strict";

  function getCookie(name) {
    const prefix = name + "=";
    for (const part of document.cookie ? document.cookie.split(";") : []) {
      const c = part.trim();
      if (c.startsWith(prefix)) return decodeURIComponent(c.slice(prefix.length));
    }
    return null;
  }

  /* The cookie is set because every page that posts renders {% csrf_token %}; the hidden input
     is the fallback when CSRF_COOKIE_HTTPONLY is on. */
  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return getCookie("csrftoken") || (input ? input.value : "");
  }

  function fmtDuration(seconds) {
    if (seconds == null || isNaN(seconds)) return "–";
    const s = Number(seconds);
    if (s < 60) return s.toFixed(1) + " s";
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = Math.floor(s % 60);
    const pad = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
  }

  /* m:ss.t, for positions inside a recording. */
  function fmtTime(seconds) {
    const s = Math.max(0, Number(seconds) || 0);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const rest = (s % 60).toFixed(1).padStart(4, "0");
    return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + rest;
  }

  function fmtBytes(n) {
    if (n == null) return "–";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    let v = Number(n);
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return (i ? v.toFixed(v < 10 ? 1 : 0) : String(v)) + " " + units[i];
  }

  /* fetch() with the session cookie and CSRF header; resolves to {ok, status, data}. */
  async function api(url, options = {}) {
    const opts = { credentials: "same-origin", headers: { Accept: "application/json" }, ...options };
    opts.headers = { Accept: "application/json", ...(options.headers || {}) };
    if (opts.body && typeof opts.body !== "string" && !(opts.body instanceof FormData)) {
      opts.body = JSON.stringify(opts.body);
      opts.headers["Content-Type"] = "application/json";
    }
    if (opts.method && opts.method !== "GET") opts.headers["X-CSRFToken"] = csrfToken();
    const response = await fetch(url, opts);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { ok: response.ok, status: response.status, data };
  }

  /* "1 clip", "2 clips", "1,234 clips"; `many` for words that do not just take an "s". */
  function plural(n, one, many = one + "s") {
    const count = Number(n) || 0;
    return `${count.toLocaleString("en-US")} ${count === 1 ? one : many}`;
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value == null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child == null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function setProgress(bar, fraction, { failed = false, done = false, indeterminate = false } = {}) {
    const pct = Math.round(Math.min(1, Math.max(0, fraction || 0)) * 100);
    bar.classList.toggle("is-failed", failed);
    bar.classList.toggle("is-done", done);
    bar.classList.toggle("is-indeterminate", indeterminate);
    bar.firstElementChild.style.width = pct + "%";
    bar.setAttribute("aria-valuenow", String(pct));
  }

  function progressBar(label) {
    return el("div", { class: "progress", role: "progressbar", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0" }, el("div", { class: "bar" }));
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const node of document.querySelectorAll("[data-duration]")) {
      node.textContent = fmtDuration(parseFloat(node.dataset.duration));
      node.title = parseFloat(node.dataset.duration).toFixed(2) + " s";
    }
    for (const node of document.querySelectorAll("[data-bytes]")) {
      node.textContent = fmtBytes(parseInt(node.dataset.bytes, 10));
      node.title = node.dataset.bytes + " bytes";
    }
  });

  /* Duration histogram (the recording page and the agreement dashboard draw the same chart): a
     holder with a Chart.js histogram (static/js/charts.js), or null when there is nothing to
     chart, so that each page says why in its own words. */
  function durationHistogram(hist) {
    if (!hist || !hist.counts || !hist.counts.some((c) => c > 0) || !window.Charts) return null;
    const holder = window.Charts.holder("chart-holder histogram-chart");
    window.Charts.durationHistogram(holder, hist);
    return holder;
  }

  /* The message box of a keyboard page. show() puts up a message that stays (a server's answer);
     hint() one that says why a key did nothing: it clears itself after HINT_MS, or at the next
     key that acts (the page calls clearHint() first thing on each shortcut key), so a hint never
     outlives its truth. */
  const HINT_MS = 6000;
  function messageBox(box) {
    let timer = null;
    function clear() {
      clearTimeout(timer);
      timer = null;
      box.textContent = "";
      box.className = "alert hidden";
      delete box.dataset.hint;
    }
    function show(text, kind = "error") {
      if (!text) return clear();
      clearTimeout(timer);
      timer = null;
      box.textContent = text;
      box.className = `alert alert-${kind}`;
      delete box.dataset.hint;
    }
    function hint(text, kind = "info") {
      show(text, kind);
      box.dataset.hint = "true";
      timer = setTimeout(clearHint, HINT_MS);
    }
    function clearHint() {
      if (box.dataset.hint === "true") clear();
    }
    return { show, hint, clear, clearHint };
  }

  /* Keys that may act on a keyboard page (letters, digits, Space, Enter, Esc), as opposed to
     Shift, Tab or arrows, which must not wipe a hint. */
  function isShortcutKey(e) {
    return e.key.length === 1 || e.key === "Enter" || e.key === "Escape";
  }

  window.Studio = { messageBox, isShortcutKey, getCookie, csrfToken, fmtDuration, fmtTime, fmtBytes, api, el, plural, setProgress, progressBar, durationHistogram };
})();
