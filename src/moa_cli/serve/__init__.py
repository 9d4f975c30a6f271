"""``moa serve``: Mixture-of-Agents behind an OpenAI-compatible HTTP endpoint.

``app`` is the ASGI application, ``server`` runs it on uvicorn; ``protocol`` reads requests,
``writer`` writes responses and stream chunks, ``errors`` the error objects, ``auth`` the token
check; ``mixture`` builds and drives turns on the application layer (:mod:`moa_cli.app`).
"""
