"""The demo runs end to end and writes its report."""

from __future__ import annotations

import json
import subprocess
import sys


def test_demo_quick_writes_report(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "descentlab.cli", "demo", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    statuses = {row["lr"]: row["status"] for row in summary["learning_rates"]}
    assert statuses[0.1] == "converged" and statuses[100.0] == "diverged"
    assert set(summary["race"]) == {"beale", "saddle"} and len(summary["race"]["beale"]) == 7
    assert all(0.8 < run["test_accuracy"] <= 1 for run in summary["training"].values())
    html = (out / "index.html").read_text()
    for name in ("race_beale.png", "race_beale.gif", "lr_sweep.png", "training.png"):
        assert (out / name).stat().st_size > 1000
        assert name in html
    assert "Report with" in proc.stdout
    # the summary is headed tables of rounded numbers, not Python dicts
    assert "{&#x27;" not in html and "{'" not in html
    assert "<h3>The classic race on beale, from (0.7, 1.4)</h3>" in html
    assert "<h3>An MLP on handwritten digits</h3>" in html
    # the fair comparison: its own folder and report, linked from the index
    assert set(summary["comparison"]) == {"ill_conditioned"}
    trials = (out / "comparison" / "trials.jsonl").read_text().splitlines()
    assert len(trials) == 3 * 4 * 2  # gd, momentum, nesterov x 4 learning rates x 2 seeds
    assert (out / "comparison" / "report.html").stat().st_size > 1000
    assert 'href="comparison/report.html"' in html
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporaries
