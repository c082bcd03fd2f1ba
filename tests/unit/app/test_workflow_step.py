"""A Snakemake script step (smartbert.app.workflow_step): a user error is one line on stderr and in the
rule's log, exit code 2 as the CLI's, no traceback; a bug keeps its traceback."""

from __future__ import annotations

import logging

import pytest

from smartbert.app.workflow_step import workflow_step
from smartbert.core.errors import EXIT_ON_USER_ERROR, SmartBertError


@pytest.fixture(autouse=True)
def fresh_logging():
    """The step replaces the root logger's handlers (its process is the script's own): restore pytest's."""
    root = logging.getLogger()
    kept, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = kept
    root.setLevel(level)


def test_a_user_error_is_one_line_on_stderr_and_in_the_log(tmp_path, capsys):
    log = tmp_path / "tables.log"
    with pytest.raises(SystemExit) as exit_info:
        with workflow_step(str(log), "tables"):
            raise SmartBertError("RTE/bert/default mixes results of 2 different configurations:\n  rerun the stale ones")
    assert exit_info.value.code == EXIT_ON_USER_ERROR == 2
    assert exit_info.value.__cause__ is None and exit_info.value.__suppress_context__  # no chained traceback
    expected = "smartbert tables: error: RTE/bert/default mixes results of 2 different configurations: rerun the stale ones"
    assert capsys.readouterr().err.splitlines() == [expected]
    assert expected in log.read_text()


def test_a_bug_keeps_its_exception(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with workflow_step(str(tmp_path / "report.log"), "report"):
            _ = 1 / 0


def test_the_step_logs_to_the_rules_log(tmp_path):
    log = tmp_path / "figure.log"
    with workflow_step(str(log), "figure"):
        logging.getLogger("smartbert.reporting.figures").info("drew fig4")
    assert "drew fig4" in log.read_text()
