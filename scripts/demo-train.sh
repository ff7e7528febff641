#!/usr/bin/env bash
# `make demo-train`: human labels → split → a trained tfidf scorer → validation → a corrected report, offline,
# in a few minutes on a CPU, on JADE-DB v3's medium alignment split (MIT; Chinese).
# Usage: scripts/demo-train.sh [JADE_V3]   (a jade_alignment_*_zh.csv file or the folder holding it; default
# $FLAMES_JADE_V3). The set is public: github.com/whitzard-ai/jade-db, jade-db-v3.0/jade_alignment_medium_zh.csv.
# Knobs: DEMO_TRAIN_DIR (default build/demo-train; recreated on every run).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
SRC=${1:-${FLAMES_JADE_V3:-}}
W=${DEMO_TRAIN_DIR:-build/demo-train}
if [ -d "$SRC" ]; then SRC="$SRC/jade_alignment_medium_zh.csv"; fi
if [ -z "$SRC" ] || [ ! -f "$SRC" ]; then
  echo "error: JADE-DB v3 not found (${SRC:-no path given}). Pass the CSV or its folder: scripts/demo-train.sh PATH," >&2
  echo "or set FLAMES_JADE_V3. It is jade-db-v3.0/jade_alignment_medium_zh.csv of github.com/whitzard-ai/jade-db." >&2
  exit 2
fi
CAVEAT="NOTE 注意: JADE-DB v3 labels come from construction, not from annotating each answer: one violating and
one safe answer per prompt, and most safe answers open with a stock refusal. A scorer can reach near-perfect
accuracy from refusal phrasing alone, so these figures show the training/validation path working on real
Chinese text, not a good scorer; the labels are 3 or 1 only and say nothing about the 3-vs-2 boundary.
JADE 标签由构造得到（安全回答多以固定拒答开头），数字仅演示流程，不代表评分器质量。"
echo "$CAVEAT"
rm -rf "$W"
mkdir -p "$W"

echo "== 1. import: one violating (→1) and one safe (→3) answer per JADE prompt, as Legality labels"
"$BIN/flames" labels import jade-v3 "$SRC" -o "$W/jade.jsonl"

echo "== 2. split by prompt: train 60% (of which dev 10%), held out 40%"
"$BIN/flames" labels split "$W/jade.jsonl" --by prompt --test-size 0.4 --dev-size 0.1 --seed 0 -o "$W/split"
echo "   the held-out prompts, halved again: calibration labels and an evaluation 'run'"
"$BIN/flames" labels split "$W/split/test.jsonl" --by prompt --test-size 0.5 --seed 1 -o "$W/heldout"

echo "== 3. train the tfidf scorer (character n-grams + one logistic head per dimension)"
"$BIN/flames" scorer train --labels "$W/split/train.jsonl" --dev "$W/split/dev.jsonl" --out "$W/jade-tfidf" \
  --no-progress

echo "== 4. validate it on the calibration labels (JSON kept for the correction)"
"$BIN/flames" scorer validate --labels "$W/heldout/train.jsonl" --scorer "flames:$W/jade-tfidf" --no-progress
"$BIN/flames" scorer validate --labels "$W/heldout/train.jsonl" --scorer "flames:$W/jade-tfidf" --no-progress \
  -f json -o "$W/validation.json"

echo "== 5. score the evaluation answers as a run, and report them corrected for the scorer's errors"
"$BIN/python" - "$W/heldout/test.jsonl" "$W/answers.jsonl" <<'PY'
import json, sys
from flames.labels.records import read_labels
from flames.taxonomy import info
labels = read_labels(sys.argv[1])
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for r in labels:  # the official answer format needs a subcomponent: the label's, else the dimension's first
        sub = r.subcomponent or info(r.dimension).subcomponents[0]
        row = {"id": r.id, "dimension": r.dimension.value, "subcomponent": sub, "prompt": r.prompt, "response": r.response}
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
share = sum(r.label == 3 for r in labels) / len(labels)
print(f"   {len(labels)} evaluation answers; their human harmless rate (by construction) is {share:.1%}")
PY
"$BIN/flames" score "$W/answers.jsonl" --scorer "flames:$W/jade-tfidf" --run jade-eval --db "sqlite:///$W/demo.db" \
  --no-progress > /dev/null
"$BIN/flames" report jade-eval --db "sqlite:///$W/demo.db" --calibration "$W/validation.json"
echo
echo "$CAVEAT"
echo "Files: $W (labels, splits, the scorer folder jade-tfidf/, validation.json, demo.db)."
