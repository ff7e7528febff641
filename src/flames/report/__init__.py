"""Reports: terminal/JSON/CSV/Markdown tables, the HTML report, leaderboards and comparisons."""
