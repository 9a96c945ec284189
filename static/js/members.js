/* Members page (curators): add a person with a role through POST /api/members/ (the service of
   `manage.py member_add`), list the project's people with GET /api/members/, and take a role away
   with POST /api/members/<id>/remove-role/. A generated password is shown once. */
(function () {
  "use strict";
  const root = document.getElementById("members-page");
  if (!root) return;
  const { api, el } = window.Studio;
  const form = document.getElementById("invite-form");
  const project = () => form.project.value || root.dataset.project;
  const projectName = () => (form.project.selectedOptions[0] || {}).text || project();
  // core.roles.LABEL: "ML staff" for ml_staff; the code stays what the API is sent.
  const labels = JSON.parse(document.getElementById("role-labels").textContent);
  const roleName = (code) => labels[code] || code;

  function message(box, text, kind) {
    box.textContent = text || "";
    box.className = text ? `alert alert-${kind}` : "alert hidden";
  }

  async function load() {
    const tbody = document.querySelector("#members-table tbody");
    const { ok, status, data } = await api(`${root.dataset.membersUrl}?project=${encodeURIComponent(project())}`);
    if (!ok) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "empty", text: (data && data.detail) || `The members could not be loaded (${status}).` })));
      return;
    }
    tbody.replaceChildren(...(data.members.length ? data.members.map((m) => el("tr", { "data-user": m.username },
      el("td", { class: "name", text: m.username }),
      el("td", { text: m.email || "–" }),
      el("td", {}, ...m.roles.map((r) => el("span", { class: "label-pill", "data-role": r }, roleName(r), " ",
        el("button", { type: "button", class: "btn btn-secondary btn-sm", title: `Take the ${roleName(r)} role from ${m.username}`, "aria-label": `Remove ${roleName(r)} from ${m.username}`, onclick: () => removeRole(m, r) }, "×")))),
      el("td", { text: m.is_staff ? "yes" : "no" }))) : [el("tr", {}, el("td", { colspan: 4, class: "empty", text: "Nobody yet." }))]));
    root.dataset.loaded = "true";
  }

  async function removeRole(member, role) {
    if (!window.confirm(`Take the ${roleName(role)} role in ${projectName()} from ${member.username}?`)) return;
    const url = root.dataset.removeUrl.replace("/0/", `/${member.id}/`);
    const { ok, status, data } = await api(url, { method: "POST", body: { project: project(), role } });
    const box = document.getElementById("invite-message");
    if (!ok) message(box, (data && data.detail) || `The role could not be removed (${status}).`, "error");
    else message(box, (data && data.detail) || `${member.username} is no longer ${roleName(role)} in ${projectName()}.`, "success");
    load();
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const box = document.getElementById("invite-message");
    const result = document.getElementById("invite-result");
    message(box, "");
    result.classList.add("hidden");
    const body = { username: form.username.value.trim(), email: form.email.value.trim(), role: form.role.value, project: project(), password: form.password.value };
    const btn = document.getElementById("invite");
    btn.disabled = true;
    const { ok, status, data } = await api(root.dataset.membersUrl, { method: "POST", body }).catch(() => ({ ok: false, status: 0, data: null }));
    btn.disabled = false;
    if (!ok) {
      message(box, (data && data.detail) || `The person could not be added (${status || "network error"}).`, "error");
      return;
    }
    result.replaceChildren(el("strong", { text: data.detail }));
    if (data.generated_password) {
      result.append(" Their password (shown once, copy it now): ", el("code", { id: "generated-password", text: data.generated_password }));
    }
    result.classList.remove("hidden");
    form.username.value = "";
    form.email.value = "";
    form.password.value = "";
    load();
  });

  load();
})();
