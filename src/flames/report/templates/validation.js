// flames-eval validation page: the browser of labels a scorer got wrong or left unscored (on items.js).
// Prompts and answers are hostile: they are only ever put on the page with textContent, never as HTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("flames-data").textContent);
  var $ = FlamesItems.$, option = FlamesItems.option, el = FlamesItems.el;
  var fScorer = $("f-scorer"), fDim = $("f-dimension"), fModel = $("f-model"), fHuman = $("f-human");
  var fKind = $("f-kind");

  data.scorers.forEach(function (s, i) { option(fScorer, String(i), s); });
  Object.keys(data.dimensions).forEach(function (d) { option(fDim, d, d + " " + data.dimensions[d]); });
  var models = {};
  data.items.forEach(function (item) { if (item.model) models[item.model] = true; });
  Object.keys(models).sort().forEach(function (m) { option(fModel, m, m); });
  if (fModel.options.length < 2) fModel.parentNode.hidden = true;

  function keep(item) {
    var k = Number(fScorer.value || 0), score = item.scores[k];
    if (fKind.value === "wrong" && (score === null || score === item.human)) return false;
    if (fKind.value === "unscored" && score !== null) return false;
    if (!fKind.value && score === item.human) return false;
    if (fDim.value && item.dimension !== fDim.value) return false;
    if (fModel.value && item.model !== fModel.value) return false;
    if (fHuman.value && String(item.human) !== fHuman.value) return false;
    return FlamesItems.searched(item);
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
    body.appendChild(FlamesItems.textBlock("Prompt 题目", item.prompt));
    body.appendChild(FlamesItems.textBlock("Response 回复", item.response));
    box.appendChild(body);
    return box;
  }

  FlamesItems.browse({
    items: data.items, keep: keep, card: card, controls: [fScorer, fDim, fModel, fHuman, fKind],
    countText: function (n, shown) { return n + " labels 条 · showing 显示 " + shown; },
  });
})();
