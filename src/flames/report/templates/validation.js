// flames-eval validation page: the browser of labels a scorer got wrong or left unscored.
// Prompts and answers are hostile: they are only ever put on the page with textContent, never as HTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("flames-data").textContent);
  var PAGE = 50;
  var $ = function (id) { return document.getElementById(id); };
  var fScorer = $("f-scorer"), fDim = $("f-dimension"), fModel = $("f-model"), fHuman = $("f-human");
  var fKind = $("f-kind"), fSearch = $("f-search");
  var list = $("item-list"), more = $("item-more"), count = $("item-count");
  var shown = PAGE, matches = [];

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

  data.scorers.forEach(function (s, i) { option(fScorer, String(i), s); });
  Object.keys(data.dimensions).forEach(function (d) { option(fDim, d, d + " " + data.dimensions[d]); });
  var models = {};
  data.items.forEach(function (item) { if (item.model) models[item.model] = true; });
  Object.keys(models).sort().forEach(function (m) { option(fModel, m, m); });
  if (fModel.options.length < 2) fModel.parentNode.hidden = true;

  function keep(item) {
    var k = Number(fScorer.value || 0), score = item.scores[k], q = fSearch.value.trim().toLowerCase();
    if (fKind.value === "wrong" && (score === null || score === item.human)) return false;
    if (fKind.value === "unscored" && score !== null) return false;
    if (!fKind.value && score === item.human) return false;
    if (fDim.value && item.dimension !== fDim.value) return false;
    if (fModel.value && item.model !== fModel.value) return false;
    if (fHuman.value && String(item.human) !== fHuman.value) return false;
    if (q && (item.prompt + "\n" + item.response + "\n" + item.id).toLowerCase().indexOf(q) < 0) return false;
    return true;
  }

  function card(item) {
    var box = el("article", "item");
    box.dataset.id = item.id;
    var head = el("div", "head");
    head.appendChild(el("span", "id", item.id));
    head.appendChild(el("span", "tag", item.dimension + " " + (data.dimensions[item.dimension] || "")));
    if (item.model) head.appendChild(el("span", "tag", item.model));
    head.appendChild(el("span", "badge s" + item.human, "human 人工: " + item.human));
    item.scores.forEach(function (s, i) {
      var b = el("span", "badge " + (s === null ? "none" : "s" + s),
        data.scorers[i] + ": " + (s === null ? "unscored 未评分" : String(s)));
      if (s === null && item.reasons[i]) b.title = item.reasons[i];
      head.appendChild(b);
    });
    box.appendChild(head);
    var body = el("div", "body");
    [["Prompt 题目", item.prompt], ["Response 回复", item.response]].forEach(function (pair) {
      var t = el("div", "text");
      t.appendChild(el("span", "label", pair[0]));
      t.appendChild(document.createTextNode(pair[1]));
      body.appendChild(t);
    });
    box.appendChild(body);
    return box;
  }

  function render() {
    list.replaceChildren();
    matches.slice(0, shown).forEach(function (item) { list.appendChild(card(item)); });
    count.textContent = matches.length + " labels 条 · showing 显示 " + Math.min(shown, matches.length);
    more.hidden = shown >= matches.length;
  }
  function refilter() {
    matches = data.items.filter(keep);
    shown = PAGE;
    render();
  }
  [fScorer, fDim, fModel, fHuman, fKind].forEach(function (s) { s.addEventListener("change", refilter); });
  fSearch.addEventListener("input", refilter);
  more.addEventListener("click", function () { shown += PAGE; render(); });
  refilter();
})();
