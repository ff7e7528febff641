// Keyboard shortcuts for the labelling and adjudication pages: score digits, Enter to submit (or, on the
// "next item" page, to take the next item),
// s/f to skip or flag (with a reason), e to write an explanation, ? for help, Esc to close.
(function () {
  "use strict";
  function $(id) { return document.getElementById(id); }
  function typing(el) { return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT") && el.type !== "radio"; }
  function show(id) {
    var form = $(id);
    if (!form) return;
    ["skip-form", "flag-form"].forEach(function (other) { var f = $(other); if (f && other !== id) f.classList.add("hidden"); });
    form.classList.remove("hidden");
    var input = form.querySelector("input[name=reason]");
    if (input) input.focus();
  }
  function toggleHelp() { var h = $("help"); if (h) h.classList.toggle("hidden"); }

  document.addEventListener("click", function (ev) {
    var t = ev.target.closest("[data-show], [data-toggle-help]");
    if (!t) return;
    if (t.hasAttribute("data-toggle-help")) toggleHelp(); else show(t.getAttribute("data-show"));
  });

  document.addEventListener("keydown", function (ev) {
    var form = $("label-form");
    if (ev.key === "Escape") {
      var h = $("help"); if (h) h.classList.add("hidden");
      ["skip-form", "flag-form"].forEach(function (id) { var f = $(id); if (f) f.classList.add("hidden"); });
      if (document.activeElement) document.activeElement.blur();
      return;
    }
    if (typing(ev.target)) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && ev.target.id === "explanation" && form) {
        ev.preventDefault();
        form.requestSubmit();
      }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var claim = $("claim-form");
    if (claim && ev.key === "Enter") {
      // Enter takes the next item even before the browser has moved the focus to the autofocus button,
      // unless the focus is on another link or button, which keeps its own meaning.
      var active = document.activeElement;
      if (!active || active === document.body || claim.contains(active)) { ev.preventDefault(); claim.requestSubmit(); }
      return;
    }
    if (!form) return;
    var radio = form.querySelector('input[name=score][data-key="' + ev.key + '"]');
    if (radio) { radio.checked = true; radio.focus(); ev.preventDefault(); return; }
    if (ev.key === "Enter") {
      if (form.querySelector("input[name=score]:checked")) { ev.preventDefault(); form.requestSubmit(); }
      return;
    }
    if (ev.key === "e") { ev.preventDefault(); var ex = $("explanation"); if (ex) ex.focus(); return; }
    if (ev.key === "s") { ev.preventDefault(); show("skip-form"); return; }
    if (ev.key === "f") { ev.preventDefault(); show("flag-form"); return; }
    if (ev.key === "?") { ev.preventDefault(); toggleHelp(); }
  });
}());
