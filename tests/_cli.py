"""Run the ``neurocine`` CLI in the test process (faster than a subprocess)."""


def cli(*args) -> int:
    """``neurocine -q ARGS``; returns its exit status (typer exits 0 on success, neurocine 2 on bad input)."""
    from neurocine.cli import main

    try:
        main(["-q", *map(str, args)])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
