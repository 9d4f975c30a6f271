"""``moa eval``: does the mixture beat a single model on your own questions?

:mod:`.systems` turns ``NAME=SPEC`` into settings, :mod:`.answers` gets each system's answers
through ``moa batch``'s runner into a cache, :mod:`.judge` compares answers pairwise in both
orders, :mod:`.stats` computes win rates with bootstrap intervals, and :mod:`.report` and
:mod:`.chart` show them (terminal table, JSON, Markdown, SVG).
"""
