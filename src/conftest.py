"""pytest settings of the docstring examples (``pytest --doctest-modules src/neurocine``); not part of the package."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Run the examples' torch fits on one thread, as the test suite does (``tests/conftest.py``).

    On a few shared cores, several threads per process are many times slower than one; the examples'
    outputs do not depend on the number of threads.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
