// The main menu on a narrow screen: folded behind the "Menu" button, which
// opens and closes it (CSS hides the menu while the button says
// aria-expanded="false", on narrow screens only). Without this script the
// button stays hidden and the menu is always shown.
// The account menu (a <details>: it opens and closes without a script) also
// closes on Escape, the keyboard back on its name, and when the keyboard
// leaves it (a click elsewhere closes it already: Pico's dropdown).
(function () {
  "use strict";
  function initAccountMenu() {
    var account = document.querySelector("details.account-menu");
    if (!account) { return; }
    account.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && account.open) {
        account.open = false;
        account.querySelector("summary").focus();
        event.stopPropagation();  // the folded menu stays open
      }
    });
    account.addEventListener("focusout", function (event) {
      if (account.open && event.relatedTarget && !account.contains(event.relatedTarget)) {
        account.open = false;
      }
    });
  }

  function initMenu() {
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

  function init() {
    initAccountMenu();
    initMenu();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
