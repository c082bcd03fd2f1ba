"""Errors a user can meet. Each message names the problem and the fix."""

EXIT_ON_USER_ERROR = 2  # the exit code of a SmartBertError, in the CLI and in the workflow's script steps


class SmartBertError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""


class UnknownNameError(SmartBertError, KeyError):
    """An unknown task, method, backbone, policy... The message lists the known names."""

    def __init__(self, kind: str, name: str, known: list[str], hint: str = "") -> None:
        message = f"unknown {kind} {name!r}; known {kind}s: {', '.join(sorted(known))}"
        if hint:
            message += f". {hint}"
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message


class DataUnavailableError(SmartBertError):
    """Task data cannot be found or fetched (offline without GLUE_DIR, missing file...)."""


class DataFormatError(SmartBertError):
    """A data file exists but is not in the expected GLUE layout."""


class CheckpointError(SmartBertError):
    """A model directory is missing, incomplete or of another method/backbone."""


def one_line(error: BaseException) -> str:
    """An exception's message on one line (libraries' messages often span several)."""
    return " ".join(str(error).split())


def error_line(command: str, error: BaseException) -> str:
    """What a user error prints, in the CLI and in the workflow's script steps: ``smartbert <command>: error: ...``."""
    return f"smartbert {command}: error: {one_line(error)}"
