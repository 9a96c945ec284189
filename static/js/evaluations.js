/* Evaluations on other releases (templates/training/_evaluations.html): each finished
   evaluation's confusion matrix (rows: the true emotions the evaluated items carry; columns:
   every label of the model), the run page's "Evaluate on another release" form (POST
   /api/training/evaluations/), and a refresh while an evaluation is queued or running. */
(function () {
  "use strict";
  const section = document.getElementById("evaluations");
  if (!section) return;
  const data = JSON.parse(document.getElementById("evaluations-data").textContent || "[]");

  for (const e of data) {
    const holder = section.querySelector(`[data-matrix="${e.id}"]`);
    if (!holder || !e.confusion || !window.Charts) continue;
    const rows = e.matched_labels || [];
    const support = e.confusion.map((row) => row.reduce((a, b) => a + b, 0));
    Charts.matrix(holder, {
      rows, cols: e.labels, values: e.confusion,
      xTitle: "Predicted emotion", yTitle: "True emotion",
      shade: (v, i) => (support[i] ? 0.1 + 0.85 * (v / support[i]) : 0),
      tooltip: (d) => `true ${d.y} → predicted ${d.x}: ${d.v} of ${support[d.i]} item${support[d.i] === 1 ? "" : "s"}`,
      empty: "No evaluated item.", label: `Confusion matrix of ${e.model} on ${e.evaluated_on}: rows true emotion, columns predicted`,
    });
  }

  /* Queued or running evaluations: read their rows every 3 s (GET /api/training/evaluations/<id>/),
     say their status and progress, and reload the page once one has finished (its figures and
     matrix are drawn by the page). A row that stays queued (no worker) is only read, never reloaded. */
  const active = data.filter((e) => e.status === "queued" || e.status === "running");
  async function follow() {
    let finished = false;
    for (const e of active) {
      const { ok, data: row } = await window.Studio.api(`${section.dataset.api}${e.id}/`);
      if (!ok || !row) continue;
      const note = section.querySelector(`tr[data-evaluation="${e.id}"] [data-state]`);
      if (note) note.textContent = `· ${row.status}${row.status === "running" ? ` ${Math.round(row.progress * 100)} %` : ""}`;
      if (row.status !== e.status && !["queued", "running"].includes(row.status)) finished = true;
    }
    if (finished) window.location.reload();
    else setTimeout(follow, 3000);
  }
  if (active.length) setTimeout(follow, 3000);

  const form = document.getElementById("evaluate-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = document.getElementById("evaluate-message");
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    message.textContent = "Queuing the evaluation…";
    const { ok, status, data: answer } = await window.Studio.api(form.dataset.api, {
      method: "POST",
      body: {
        model_version: Number(form.dataset.modelVersion),
        release: Number(form.elements.release.value),
        split: form.elements.split.value,
      },
    });
    button.disabled = false;
    if (!ok) {
      message.textContent = (answer && answer.detail) || `The evaluation could not be queued (HTTP ${status}).`;
      message.classList.add("error");
      return;
    }
    message.classList.remove("error");
    message.textContent = `Evaluation #${answer.id} queued.`;
    window.location.reload();
  });
})();
