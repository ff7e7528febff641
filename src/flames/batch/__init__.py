"""Provider batch APIs (the OpenAI Batch format, also served by DashScope and Zhipu): submit a run's pending
requests as files at half price, record every batch in the store at once, collect the answers exactly once.

`providers` (limits and paths per provider), `files` (input lines, splitting, output lines), `client` (the
`/files` and `/batches` HTTP calls), `replay` (a backend that answers from a batch's output, so answers and
judgments go through the live engines' parsers and store writes), `submit`, `collect`.
"""


class BatchError(Exception):
    """A batch that cannot be prepared, submitted or read; the message says what to do."""
