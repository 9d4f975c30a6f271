"""`moa chat`: the interactive REPL over the same engine, with stored, resumable sessions."""
