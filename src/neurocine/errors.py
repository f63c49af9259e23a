"""Errors shared by every layer of neurocine."""


class InputError(ValueError):
    """Bad input: names the file or argument, what was found and what was expected.

    The CLI prints ``str(error)`` as one line and exits with status 2.

    Examples
    --------
    >>> raise InputError("data.npz: 'data' has shape (10,), expected (T, N)")
    Traceback (most recent call last):
    ...
    neurocine.errors.InputError: data.npz: 'data' has shape (10,), expected (T, N)
    """
