"""``python -m export ...`` is ``deepproduct export ...``."""

import sys

from mobile_sdk.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
