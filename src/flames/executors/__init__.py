"""Where the work of a run executes when it is not this process's own event loop: `ray_executor` spreads
generation and scoring over a Ray cluster. The store stays the single source of truth either way."""
