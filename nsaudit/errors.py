"""The errors nsaudit reports to its user, each with the exit code the README documents."""

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_HOST = 3
EXIT_DATABASE = 4
EXIT_OUTPUT = 5
EXIT_INTERNAL = 70
EXIT_BROKEN_PIPE = 141
EXIT_INTERRUPTED = 130


class NsauditError(Exception):
    """An error with a one-line message that names the problem and the fix."""

    exit_code = EXIT_INTERNAL


class UsageError(NsauditError):
    """Something the user passed (an option, a file named on the command line) is wrong."""

    exit_code = EXIT_USAGE


class HostReadError(NsauditError):
    """The host (or the --root tree) could not be read."""

    exit_code = EXIT_HOST


class DatabaseError(NsauditError):
    """The database could not be opened, read or written."""

    exit_code = EXIT_DATABASE


class ScanOutOfOrder(DatabaseError):
    """A new snapshot was taken before the host's newest stored one: the clock went back, or
    another run stored a later scan meanwhile (then scanning again puts it in order)."""


class OutputError(NsauditError):
    """Standard output or the -o file could not be written (a full disk, read-only media)."""

    exit_code = EXIT_OUTPUT


class OutputClosed(NsauditError):
    """The reader of stdout went away (`nsaudit detect | head -1`); not an error to print."""

    exit_code = EXIT_BROKEN_PIPE
