// The main menu on a narrow screen: folded behind the "Menu" button, which
// opens and closes it (CSS hides the menu while the button says
// aria-expanded="false", on narrow screens only). Without this script the
// button stays hidden and the menu is always shown.
(function () {
  "use strict";
  function init() {
    var button = document.querySelector("[data-menu-button]");
    var menu = button && document.getElementById(button.getAttribute("aria-controls"));
    if (!menu) { return; }

    function setOpen(open) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }

    setOpen(false);
    button.hidden = false;
    button.addEventListener("click", function () {
      setOpen(button.getAttribute("aria-expanded") !== "true");
    });
    // Escape inside the open menu closes it and returns to the button.
    menu.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        setOpen(false);
        button.focus();
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
