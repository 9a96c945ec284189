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
      nav.replaceChildren(status, links);
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

  window.StudioPager = { pager, listUrl };
})();
