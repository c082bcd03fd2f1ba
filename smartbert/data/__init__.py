"""Task data: specs (``tasks``), sources (``glue_tsv``, ``hub``, ``synthetic``), the one way in
(``load``) and tokenisation / batching (``encode``)."""

from smartbert.data.load import load_split, resolve_source
from smartbert.data.tasks import TASKS, Example, TaskSpec, get_task

__all__ = ["TASKS", "Example", "TaskSpec", "get_task", "load_split", "resolve_source"]
