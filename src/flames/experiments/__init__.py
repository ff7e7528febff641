"""The FLAMES experiments as commands: five questions a user answers about their own models, scorers and
prompts, each with intervals and caveats (docs/experiments.md).

- `attack_methods`: which attack methods work (harmless rate and attack success rate per method and model);
- `robustness` (+ `perturbations`, the registry): can answers be written to fool a scorer;
- `adversarial`: do adversarial prompts reveal more than plain ones;
- `generalisation`: does a trained scorer generalise to LLMs (or groups) it never saw;
- `backbones`: which backbone makes the best scorer.

Shared pieces: `result` (the JSON envelope, tables and sections every experiment returns), `inputs` (what
each experiment records about its inputs), `stats` (prompt-clustered bootstrap of ratios), `sources`
(label sets and derived answer sets kept in the store so that a rerun scores nothing twice) and `render`
(Markdown and the offline HTML page). Heavy libraries are imported inside the functions that need them.
"""
