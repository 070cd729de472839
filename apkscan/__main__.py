"""Allow ``python -m apkscan``."""

from apkscan.cli import run

if __name__ == "__main__":  # pragma: no cover
    run()
