"""Allow ``python -m apkscan``."""

from apkscan.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
