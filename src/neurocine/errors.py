"""Errors shared by every layer of neurocine."""

from pathlib import Path


class InputError(ValueError):
    """Bad input: names the file or argument, what was found and what was expected.

    The CLI prints ``str(error)`` as one line and exits with status 2. Messages about an argument
    start with its Python name (``n_components: got 0, ...``); the CLI shows the option of the
    command that name came from instead (``--components: got 0, ...``).

    Examples
    --------
    >>> raise InputError("data.npz: 'data' has shape (10,), expected (T, N)")
    Traceback (most recent call last):
    ...
    neurocine.errors.InputError: data.npz: 'data' has shape (10,), expected (T, N)
    """


class Interrupted(BaseException):
    """A signal asked the process to stop (SIGTERM, SIGHUP, SIGINT...) while the command line ran a job.

    Raised in the main thread by the handlers :func:`neurocine.runtime.stop_on_signals` installs, so
    that every ``finally`` block and context manager runs (a job's temporary result folder is removed)
    before the command line exits with status 128 + the signal number. Like ``KeyboardInterrupt`` it is
    not an ``Exception``: ``except Exception`` does not swallow it.

    Parameters
    ----------
    signum : int
        The signal number.

    Attributes
    ----------
    signum : int
    out : pathlib.Path or None
        The result folder the job was writing (set as the error leaves it), else None.
    resumable : bool
        Whether that job left checkpoints a rerun resumes from.

    Examples
    --------
    >>> import signal
    >>> Interrupted(signal.SIGTERM).signal_name
    'SIGTERM'
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)
        self.out: Path | None = None
        self.resumable = False

    @property
    def signal_name(self) -> str:
        """``"SIGTERM"``, ``"SIGHUP"``... (``"signal N"`` for a number Python does not name)."""
        import signal

        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"
