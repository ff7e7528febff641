// flames-eval HTML report: draws the charts and runs the item browser (on items.js).
// Model output is hostile: it is only ever put on the page with textContent, never as HTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("flames-data").textContent);

  Object.keys(data.charts).forEach(function (id) {
    var el = document.getElementById(id);
    if (el) {
      var spec = data.charts[id];
      Plotly.newPlot(el, spec.data, spec.layout, { displaylogo: false, responsive: true });
    }
  });

  var $ = FlamesItems.$, option = FlamesItems.option, el = FlamesItems.el;
  var fDim = $("f-dimension"), fSub = $("f-subcomponent"), fAttack = $("f-attack"), fScorer = $("f-scorer");
  var fScore = $("f-score");
  function dimLabel(d) { return d + " " + (data.labels.dimensions[d] || ""); }
  function subLabel(s) { return s + " " + (data.labels.subcomponent_zh[s] || ""); }

  Object.keys(data.labels.dimensions).forEach(function (d) { option(fDim, d, dimLabel(d)); });
  data.scorers.forEach(function (s, i) { option(fScorer, String(i), s); });
  var attacks = {};
  data.items.forEach(function (item) { if (item.attack_method) attacks[item.attack_method] = true; });
  Object.keys(attacks).sort().forEach(function (a) { option(fAttack, a, a); });
  if (fAttack.options.length < 2) fAttack.parentNode.hidden = true;
  if (data.scorers.length < 2) fScorer.parentNode.hidden = true;

  function fillSubcomponents() {
    while (fSub.options.length > 1) fSub.remove(1);
    var dims = fDim.value ? [fDim.value] : Object.keys(data.labels.subcomponents);
    dims.forEach(function (d) {
      data.labels.subcomponents[d].forEach(function (s) { option(fSub, s, subLabel(s)); });
    });
  }

  function matchesFilters(item) {
    var k = Number(fScorer.value || 0);
    var score = item.scores[k];
    if (fDim.value && item.dimension !== fDim.value) return false;
    if (fSub.value && item.subcomponent !== fSub.value) return false;
    if (fAttack.value && item.attack_method !== fAttack.value) return false;
    var byOutcome = fScore.value === "blocked" || fScore.value === "no_answer";
    if (byOutcome && item.outcome !== fScore.value) return false;
    if (fScore.value === "none" && (score !== null || item.outcome !== "answered")) return false;
    if (fScore.value && !byOutcome && fScore.value !== "none" && String(score) !== fScore.value) return false;
    return FlamesItems.searched(item);
  }

  function card(item) {
    var box = el("article", "item");
    box.dataset.id = item.id;
    var head = el("div", "head");
    head.appendChild(el("span", "id", item.id + (item.sample ? " #" + item.sample : "")));
    head.appendChild(el("span", "tag", dimLabel(item.dimension)));
    head.appendChild(el("span", "tag", subLabel(item.subcomponent)));
    if (item.attack_method) head.appendChild(el("span", "tag", item.attack_method));
    if (item.outcome !== "answered") {
      var o = el("span", "badge outcome",
        item.outcome === "blocked" ? "blocked 被拦截" + (item.counted_as_refusal ? " → counted as refusal 计为拒答 (3)" : "")
          : "no answer 无回答");
      o.title = item.detail || "";
      head.appendChild(o);
    } else {
      item.scores.forEach(function (s, i) {
        var b = el("span", "badge " + (s === null ? "none" : "s" + s),
          (data.scorers.length > 1 ? data.scorers[i] + ": " : "") + (s === null ? "unscored 未评分" : String(s)));
        if (s === null && item.unscored_reasons[i]) b.title = item.unscored_reasons[i];
        head.appendChild(b);
      });
    }
    box.appendChild(head);
    var body = el("div", "body");
    var answer = item.outcome === "answered" ? ["Response 回复", item.response]
      : ["Why no answer 无回答原因", item.detail || ""];
    body.appendChild(FlamesItems.textBlock("Prompt 题目", item.prompt));
    body.appendChild(FlamesItems.textBlock(answer[0], answer[1]));
    if (item.reasoning) {
      var trace = el("details", "reasoning");
      trace.appendChild(el("summary", null, "Reasoning trace 思考过程 (not scored 不参与评分)"));
      trace.appendChild(el("div", "text", item.reasoning));
      body.appendChild(trace);
    }
    box.appendChild(body);
    return box;
  }

  fillSubcomponents();
  var refilter = FlamesItems.browse({
    items: data.items, keep: matchesFilters, card: card, controls: [fSub, fAttack, fScorer, fScore],
    countText: function (n, shown) { return n + " of " + data.items.length + " items 条 · showing 显示 " + shown; },
  });
  fDim.addEventListener("change", function () { fillSubcomponents(); refilter(); });
})();
