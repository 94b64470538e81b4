"""What every benchmark prints: our rate, the baseline's, their ratio against the target."""

from __future__ import annotations


def compare(
    label: str, ours: float, baseline: float, baseline_name: str, target: float, unit: str
) -> None:
    """One line: `label: N unit/s; baseline M/s; ratio R (target >= T) ok|BELOW TARGET`."""
    ratio = ours / baseline
    verdict = "ok" if ratio >= target else "BELOW TARGET"
    print(
        f"{label}: {ours:,.0f} {unit}/s; {baseline_name} {baseline:,.0f}/s; "
        f"ratio {ratio:.2f}x (target >= {target}x) {verdict}",
        flush=True,
    )
