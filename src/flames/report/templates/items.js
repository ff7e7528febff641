// flames-eval item browser, shared by the HTML report and the validation page (each page inlines this script
// before its own, under the same CSP nonce): DOM helpers and the filtered, paged list of items.
// Prompts and answers are hostile: they are only ever put on the page with textContent, never as HTML.
var FlamesItems = (function () {
  "use strict";
  var PAGE = 50;

  function $(id) { return document.getElementById(id); }
  function option(select, value, text) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    select.appendChild(o);
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // A labelled block of text (prompt, response, reason), as text.
  function textBlock(label, text) {
    var t = el("div", "text");
    t.appendChild(el("span", "label", label));
    t.appendChild(document.createTextNode(text));
    return t;
  }
  // Whether the item's prompt, response or id holds the search box's text (case-insensitive). The lower-cased
  // text is made once per item, not on every keystroke.
  var hay = new WeakMap();
  function haystack(item) {
    var h = hay.get(item);
    if (h === undefined) {
      h = (item.prompt + "\n" + item.response + "\n" + item.id).toLowerCase();
      hay.set(item, h);
    }
    return h;
  }
  function searched(item) {
    var q = $("f-search").value.trim().toLowerCase();
    return !q || haystack(item).indexOf(q) >= 0;
  }
  // The list #item-list of opts.items that opts.keep(item) accepts, opts.card(item) each, PAGE at a time
  // (#item-more shows more), #item-count set to opts.countText(matching, shown). Refiltered when one of
  // opts.controls changes or the search box is typed in; returns the refilter function.
  function browse(opts) {
    var list = $("item-list"), more = $("item-more"), count = $("item-count");
    var shown = PAGE, matches = [];
    function render() {
      list.replaceChildren();
      matches.slice(0, shown).forEach(function (item) { list.appendChild(opts.card(item)); });
      count.textContent = opts.countText(matches.length, Math.min(shown, matches.length));
      more.hidden = shown >= matches.length;
    }
    function refilter() {
      matches = opts.items.filter(opts.keep);
      shown = PAGE;
      render();
    }
    opts.controls.forEach(function (s) { s.addEventListener("change", refilter); });
    $("f-search").addEventListener("input", refilter);
    more.addEventListener("click", function () { shown += PAGE; render(); });
    refilter();
    return refilter;
  }

  return { $: $, option: option, el: el, textBlock: textBlock, searched: searched, browse: browse };
})();
