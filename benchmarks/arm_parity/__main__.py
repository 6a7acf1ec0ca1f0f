"""``python -m benchmarks.arm_parity``: see the package docstring."""

import sys

from benchmarks.arm_parity.run import main
from mobile_sdk.errors import run_reporting_errors

if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, "arm_parity.py"))
