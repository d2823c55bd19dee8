"""The error kinds of the task contract: each one decides an exit code, so retry policy follows
from the error's type, never from parsing a message."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes every redfeed image uses (sysexits.h where one fits). Public interface."""

    OK = 0
    #: Generic failure of a wrapped program that did not say why.
    FAILED = 1
    #: The source sent data that cannot be parsed; retrying will not fix it.
    DATA_ERROR = 65  # EX_DATAERR
    #: A bug in redfeed itself.
    SOFTWARE = 70  # EX_SOFTWARE
    #: Network, 5xx, throttling, archive or warehouse unreachable: a retry may help.
    TEMPORARY = 75  # EX_TEMPFAIL
    #: Configuration or usage error: do not retry until someone fixes the configuration.
    CONFIG = 78  # EX_CONFIG
    #: Nothing new to archive or load; the DAG maps this to a skipped task.
    NOTHING_NEW = 99
    #: Stopped by SIGTERM (128 + 15), e.g. DockerOperator.on_kill.
    TERMINATED = 143


class RedfeedError(Exception):
    """Base of the errors that map to an exit code."""

    exit_code: ExitCode = ExitCode.SOFTWARE
    kind = "software"


class ConfigError(RedfeedError):
    """Bad environment or arguments: fix the configuration, do not retry."""

    exit_code = ExitCode.CONFIG
    kind = "config"


class TemporaryError(RedfeedError):
    """The source, archive or warehouse failed in a way a later retry may not."""

    exit_code = ExitCode.TEMPORARY
    kind = "temporary"


class SourceDataError(RedfeedError):
    """The source answered, but with data that cannot be read."""

    exit_code = ExitCode.DATA_ERROR
    kind = "data"


class NothingNew(RedfeedError):
    """Nothing to do for this interval; not a failure."""

    exit_code = ExitCode.NOTHING_NEW
    kind = "nothing_new"


class Terminated(RedfeedError):
    """SIGTERM arrived; whatever was in progress was abandoned and nothing was committed."""

    exit_code = ExitCode.TERMINATED
    kind = "terminated"


class ProgramFailed(RedfeedError):
    """A wrapped program failed without using one of the contract's exit codes."""

    exit_code = ExitCode.FAILED
    kind = "failed"


def error_for_exit_code(code: int, message: str) -> RedfeedError:
    """The error a child process meant by exiting with ``code``."""
    for cls in (ConfigError, TemporaryError, SourceDataError, NothingNew, Terminated):
        if cls.exit_code == code:
            return cls(message)
    if code < 0:  # killed by a signal (subprocess convention)
        return Terminated(message) if code == -15 else TemporaryError(message)
    return ProgramFailed(message)
