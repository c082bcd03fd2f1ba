"""One module per ``smartbert`` command, each with ``run(args)``; :mod:`smartbert.app.cli` defines the
arguments and imports only the command it runs (so ``smartbert sweep`` never loads torch)."""
