/* Top bar menus (<details> in base.html): they work without this script; it only makes them
   behave like menus. One menu open at a time; Esc or a click elsewhere closes it, and Esc puts
   the focus back on the menu's title. */
(function () {
  "use strict";
  const menus = [...document.querySelectorAll("details.nav-menu")];
  if (!menus.length) return;

  for (const menu of menus) {
    menu.addEventListener("toggle", () => {
      if (menu.open) for (const other of menus) if (other !== menu) other.open = false;
    });
  }
  document.addEventListener("click", (e) => {
    for (const menu of menus) if (menu.open && !menu.contains(e.target)) menu.open = false;
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    const open = menus.find((m) => m.open);
    if (!open) return;
    open.open = false;
    open.querySelector("summary").focus();
    e.stopImmediatePropagation(); // the page's own Esc (skip a clip, close a panel) does not fire too
  }, true);
})();
