"""The demo's figures tell the same story as its console: lr_sweep.png runs the
learning-rate experiment that the console table prints, step for step."""

from __future__ import annotations

import numpy as np

from descentlab import demo


def test_lr_sweep_panels_say_what_the_console_says(tmp_path):
    rows = demo._lr_experiment()  # what step 2 of the demo prints
    fig = demo._lr_figure(tmp_path / "lr_sweep.png")
    assert (tmp_path / "lr_sweep.png").stat().st_size > 1000
    res = fig.results
    assert [row["lr"] for row in rows] == list(demo.LEARNING_RATES)
    np.testing.assert_array_equal(res.lr, demo.LEARNING_RATES)
    assert res.status.tolist() == [row["status"] for row in rows]
    assert res.nit.tolist() == [row["steps"] for row in rows]
    for row, text in zip(rows, fig.statuses):
        if row["status"] == "converged":
            assert text == f"converged in {row['steps']} steps"
        elif row["status"] == "diverged":
            assert text.startswith(f"diverged at step {row['steps']}")
        else:
            assert f"after {row['steps']} steps" in text and "converged in" not in text
    # the lecture's point, on both: eta = 0.1 converges (in 66 steps), 100 and 1000 diverge
    by_lr = dict(zip(demo.LEARNING_RATES, fig.statuses))
    assert by_lr[0.1] == "converged in 66 steps"
    assert by_lr[100.0].startswith("diverged") and by_lr[1000.0].startswith("diverged")
    assert f"{demo.LR_STEPS} steps per learning rate" in fig._suptitle.get_text()
