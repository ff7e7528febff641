"""The prompt design system: attack methods as data, authoring, near-duplicate search, panel tries, review,
attack-success statistics and versioned releases.

Domain logic only (no web framework): the pages live in `flames.design.web`, the commands in
`flames.cli.prompts`. Accounts and roles are the annotation app's (`flames.annotate.auth`).
"""
