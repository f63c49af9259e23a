"""``python -m neurocine``: the ``neurocine`` command line."""

from neurocine.cli import main

if __name__ == "__main__":
    main()
