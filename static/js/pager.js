/* Server-paged lists drawn in the browser. An API list answers {count, next, previous, results}
   (core.pagination); `StudioPager.pager(nav, {what, one, onPage})` returns a function that
   draws, in `nav`, "21–40 of 1,234 <what>" ("1–1 of 1 <one>") with Previous / Next buttons that
   call onPage(n). Exposed as window.StudioPager; needs common.js (window.Studio). */
(function () {
  "use strict";
  const { el } = window.Studio;
  const fmt = (n) => n.toLocaleString("en-US");

  function pager(nav, { what, one, onPage }) {
    return function render(data, page, pageSize) {
      const first = (page - 1) * pageSize;
      const text = data.count
        ? `${fmt(first + 1)}–${fmt(first + data.results.length)} of ${fmt(data.count)} ${data.count === 1 && one ? one : what}`
        : `0 ${what}`;
      const status = el("span", { class: "small", "data-pager-status": "", text });
      const pages = Math.max(1, Math.ceil(data.count / pageSize));
      const links = pages > 1
        ? el("span", { class: "pager-links" },
          el("button", { type: "button", class: "btn btn-secondary", rel: "prev", disabled: !data.previous, onclick: () => onPage(page - 1), text: "← Previous" }),
          el("span", { class: "small muted", text: `Page ${fmt(page)} of ${fmt(pages)}` }),
          el("button", { type: "button", class: "btn btn-secondary", rel: "next", disabled: !data.next, onclick: () => onPage(page + 1), text: "Next →" }))
        : null;
      // replaceChildren stringifies a null argument into the text "null": pass only what exists.
      nav.replaceChildren(...[status, links].filter(Boolean));
      nav.dataset.count = String(data.count);
    };
  }

  /* The list URL for page `page` with `params` (empty values left out). */
  function listUrl(base, page, pageSize, params = {}) {
    const url = new URL(base, window.location.href);
    url.searchParams.set("page", String(page));
    url.searchParams.set("page_size", String(pageSize));
    for (const [key, value] of Object.entries(params)) if (value) url.searchParams.set(key, value);
    return url.pathname + url.search;
  }

  /* Filters live in the page's own URL too, so that a search can be bookmarked and Back returns
     to it. `readFilters(form, names)` fills the form's fields `names` from the address (`q` is
     accepted for `search`) and returns the page number there (1 by default);
     `writeFilters(form, names, page)` puts them back with history.replaceState, so that paging
     and searching do not pile up history entries. */
  function readFilters(form, names) {
    const query = new URLSearchParams(window.location.search);
    for (const name of names) {
      const value = query.get(name) ?? (name === "search" ? query.get("q") : null);
      if (value != null && form.elements[name]) form.elements[name].value = value;
    }
    const page = parseInt(query.get("page") || "1", 10);
    return page > 0 ? page : 1;
  }

  function writeFilters(form, names, page) {
    const url = new URL(window.location.href);
    url.searchParams.delete("q");
    for (const name of names) {
      const value = form.elements[name] ? form.elements[name].value.trim() : "";
      if (value) url.searchParams.set(name, value);
      else url.searchParams.delete(name);
    }
    if (page > 1) url.searchParams.set("page", String(page));
    else url.searchParams.delete("page");
    if (url.href !== window.location.href) window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }

  window.StudioPager = { pager, listUrl, readFilters, writeFilters };
})();
