"""`python -m promote.sandbox.moto_server [moto.server options]`: moto's server, patched.

The sandbox runs this instead of `python -m moto.server` so that the local AWS serves what AWS
serves (see promote/sandbox/moto_patches.py for the two fixes and why).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Apply the patches, then run moto's own server entry point."""
    from moto import server
    from promote.sandbox import moto_patches

    moto_patches.apply()
    server.main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
