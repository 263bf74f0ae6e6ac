"""Hypothesis budgets for the property tests, and a summary of what they compared.

The default run is bounded (``descentlab-fast``: 150 examples per test, well under a
minute in all); ``DESCENTLAB_HYPOTHESIS_PROFILE=slow`` runs thousands (3000 per test)
and ``=debug`` reports failures as drawn, without the slow shrinking. The profiles
are applied by the property tests themselves (``PROFILE``), so that loading this
file changes no other test's hypothesis settings.
"""

from __future__ import annotations

import os

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
# the graph_stats fixture, where the property tests count their graphs, is in
# tests/conftest.py: its summary is printed from there, gathered from every worker
PROFILE_NAME = "descentlab-" + os.environ.get("DESCENTLAB_HYPOTHESIS_PROFILE", "fast")
