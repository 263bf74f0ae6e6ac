"""Hypothesis budgets for the property tests, and a summary of what they compared.

The default run is bounded (``descentlab-fast``: 150 examples per test, well under a
minute in all); ``DESCENTLAB_HYPOTHESIS_PROFILE=slow`` runs thousands (3000 per test)
and ``=debug`` reports failures as drawn, without the slow shrinking. The profiles
are applied by the property tests themselves (``PROFILE``), so that loading this
file changes no other test's hypothesis settings.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
# derandomized: the default run checks the same 150 graphs every time (no flaky CI);
# the slow profile explores new ones on every run
settings.register_profile(
    "descentlab-fast",
    max_examples=150,
    deadline=None,
    suppress_health_check=_CHECKS,
    derandomize=True,
)
settings.register_profile(
    "descentlab-slow", max_examples=3000, deadline=None, suppress_health_check=_CHECKS
)
# failures as drawn, without shrinking (which is slow for these big examples)
settings.register_profile(
    "descentlab-debug",
    max_examples=300,
    deadline=None,
    suppress_health_check=_CHECKS,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
PROFILE_NAME = "descentlab-" + os.environ.get("DESCENTLAB_HYPOTHESIS_PROFILE", "fast")

#: per dtype: how many random graphs were compared and the worst relative error seen
GRAPH_STATS: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="session")
def graph_stats() -> dict[str, dict[str, float]]:
    return GRAPH_STATS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for key, entry in sorted(GRAPH_STATS.items()):
        terminalreporter.write_line(
            f"autograd property tests, {key}: {entry['graphs']} random graphs compared, "
            f"worst error {entry['worst_relative_error']:.3g}"
        )
