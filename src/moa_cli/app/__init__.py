"""The application layer: what every face of moa (``ask``, ``chat``, ``serve``, ``batch``) shares.

It knows no Typer and no terminal. It builds providers with their keys (:mod:`.providers`),
turns settings and a question into the engine's request (:mod:`.requests`), keeps a
:class:`~.conversation.Conversation` (its session, history and recorder), and drives a turn's
events to any set of consumers (:mod:`.turn`)::

    faces      cli/ (ask, chat, sessions, keys, models)   chat/ (REPL)   serve/ ...
    app        Conversation · build_request · make_provider · drive · run_cancellable
    engine     MoaRun -> events                  store · recorder · config · settings
    providers  ProviderRouter -> Groq / OpenAI-compatible SDK providers
"""
