/* Quotas page: set, change and remove quota targets through the API, then reload the figures. */
(function () {
  const page = document.getElementById("quotas-page");
  if (!page) return;
  const box = window.Studio.messageBox(document.getElementById("quota-message"));
  const listUrl = page.dataset.api;
  const detailUrl = (id) => `${page.dataset.detail}${id}/`;

  function problem(res) {
    const d = res.data || {};
    if (d.detail) return d.detail;
    const first = Object.entries(d)[0];
    return first ? `${first[0]}: ${[].concat(first[1]).join(" ")}` : `Error ${res.status}`;
  }

  async function send(url, method, body) {
    const res = await window.Studio.api(url, { method, body });
    if (res.ok) window.location.reload();
    else box.show(problem(res));
  }

  document.getElementById("quota-add").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    send(listUrl, "POST", {
      emotion: form.get("emotion"),
      gender: form.get("gender") || "",
      target: Number(form.get("target")),
    });
  });

  document.querySelectorAll("#quota-table tr[data-id]").forEach((row) => {
    const id = row.dataset.id;
    row.querySelector(".quota-save").addEventListener("click", () => {
      send(detailUrl(id), "PATCH", { target: Number(row.querySelector(".quota-target").value) });
    });
    row.querySelector(".quota-delete").addEventListener("click", () => send(detailUrl(id), "DELETE"));
  });
})();
