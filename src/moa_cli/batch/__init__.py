"""``moa batch``: the mixture over a data set, one JSON line per row, resumable.

:mod:`.rows` reads the input (JSONL, CSV or text lines) into :class:`~.rows.Row` objects,
:mod:`.output` keeps the output file (what is done, an fsync'd append per finished row),
:mod:`.runner` runs rows through the engine with bounded concurrency, :mod:`.progress` reports
on stderr, and :mod:`.groq_batch` runs the same rows through Groq's Batch API instead.
"""
