"""``moa serve``: Mixture-of-Agents behind an OpenAI-compatible HTTP endpoint.

``app`` is the ASGI application, ``server`` runs it on uvicorn; ``protocol`` reads requests,
``writer`` writes responses and stream chunks, ``errors`` the error objects, ``auth`` the token
check. ``mixture`` is the only module that reaches into :mod:`moa_cli.cli`: the turn-driving glue.
"""
