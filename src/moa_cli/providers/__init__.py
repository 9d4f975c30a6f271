"""Model providers behind one small interface (:class:`moa_cli.providers.base.Provider`)."""
