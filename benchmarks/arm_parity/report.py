"""The Markdown report of an ARM parity run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.arm_parity.host import SUITE


def markdown(results: list[dict[str, Any]], arm: dict[str, dict[str, Any]], setup: dict) -> str:
    """The parity results as a Markdown section."""
    lines = [
        "# ARM64 parity (qemu-user emulation)\n",
        f"x86_64 host vs {setup['guest']} (Debian {SUITE} under qemu-aarch64, emulating a "
        f"{setup['cpu']} core; LiteRT runs XNNPACK on both sides), "
        f"Python {setup['guest_python']}; wheels: {', '.join(setup['requirements'])}.\n",
        "| model | check | result | detail |",
        "|---|---|---|---|",
    ]
    for r in results:
        for c in r["checks"]:
            lines.append(
                f"| {Path(r['model']).name} ({r['precision']}) | {c['check']} "
                f"| {'pass' if c['ok'] else 'FAIL'} | {c['detail']} |"
            )
    lines.append("")
    for name, doc in arm.items():
        lines.append(
            f"- {name}: one embedding took {doc['embed_seconds_median']:.2f} s under emulation "
            "(a correctness check, not a timing)"
        )
    return "\n".join(lines) + "\n"
