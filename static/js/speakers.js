/* Speakers page: name a voice, merge two voices of a series, split a recording's cluster off.
   Every change goes through the REST API; the page reloads to show the new grouping. */
(function () {
  "use strict";
  const { api } = window.Studio;
  const page = document.getElementById("speakers-page");
  if (!page) return;
  const cfg = page.dataset;
  const message = document.getElementById("speakers-message");
  const withId = (url, id) => url.replace(/\/0\/(merge\/|detach\/)?$/, `/${id}/$1`);

  function say(text, error) {
    message.textContent = text;
    message.className = `small ${error ? "error-text" : ""}`;
  }

  function problem(status, data) {
    if (data && data.detail) return data.detail;
    if (data && typeof data === "object") return Object.values(data).flat().join(" ");
    return `The server answered ${status}.`;
  }

  async function send(url, method, body, done) {
    const { ok, status, data } = await api(url, { method, body });
    if (!ok) { say(problem(status, data), true); return; }
    say(done, false);
    window.setTimeout(() => window.location.reload(), 400);
  }

  for (const form of page.querySelectorAll(".rename-form")) {
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const name = form.elements.name.value.trim();
      send(withId(cfg.renameUrl, form.dataset.voice), "PATCH", { name }, name ? `Named “${name}”.` : "Name cleared.");
    });
  }
  for (const form of page.querySelectorAll(".merge-form")) {
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const other = Number(form.elements.other.value);
      send(withId(cfg.mergeUrl, form.dataset.voice), "POST", { other }, "Merged.");
    });
  }
  for (const button of page.querySelectorAll("button.detach")) {
    button.addEventListener("click", () => {
      send(withId(cfg.detachUrl, button.dataset.cluster), "POST", undefined, "Split off into a voice of its own.");
    });
  }
})();
