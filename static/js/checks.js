/* Curator page of hidden gold checks: mark and unmark clips through /api/annotation/checks/. */
(function () {
  "use strict";

  const { api } = window.Studio;
  const root = document.getElementById("checks-page");
  if (!root) return;
  const box = document.getElementById("message");

  function showMessage(text) {
    box.textContent = text;
    box.className = text ? "alert alert-error" : "alert hidden";
  }

  root.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-mark], button[data-unmark]");
    if (!button) return;
    button.disabled = true;
    const url = root.dataset.checksUrl;
    const result = button.dataset.mark
      ? await api(url, { method: "POST", body: { clip: Number(button.dataset.mark), emotion: button.dataset.emotion || "" } })
      : await api(`${url}${button.dataset.unmark}/`, { method: "DELETE" });
    if (!result.ok) {
      button.disabled = false;
      showMessage((result.data && result.data.detail) || `The check could not be changed (${result.status}).`);
      return;
    }
    window.location.reload();
  });
})();
