"""How a Snakemake `script:` step logs and fails: one home for the six scripts in workflow/scripts.

A `SmartBertError` (bad input: a stale sweep, a missing column...) is a message for the user, not a
bug, so the step prints it on one line, as the CLI does (`smartbert <step>: error: <message>`), logs
it to the rule's log file and exits non-zero without a Python traceback. Any other exception is a bug
and keeps its traceback.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from smartbert.core.errors import EXIT_ON_USER_ERROR, SmartBertError, error_line


@contextmanager
def workflow_step(log_path: str, step: str) -> Iterator[None]:
    """Log INFO and above to `log_path`; turn a SmartBertError into one stderr line and exit code 2."""
    logging.basicConfig(filename=log_path, level=logging.INFO, force=True,  # the rule's log is the step's only log
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        yield
    except SmartBertError as error:
        message = error_line(step, error)
        logging.getLogger("smartbert.workflow").error(message)
        print(message, file=sys.stderr)
        raise SystemExit(EXIT_ON_USER_ERROR) from None
