"""The benchmark's verdicts on the performance targets (tests/bench/run.py)."""

from __future__ import annotations

from tests.bench.run import check_targets, summary


def report(chain_pg: float, fan_out: float, latency: float, step_1000_ms: float) -> dict:
    return {
        "backends": [
            {
                "name": "embedded",
                "workers": 0,
                "figures": {
                    "chain_steps_per_s": summary("chain", [400.0]),
                    "episode_ms_step_10_cache_on": summary("e10", [2.0], per_s=False),
                    "episode_ms_step_1000_cache_on": summary("e1000", [step_1000_ms], False),
                    "rss_mib_1000_waiting": summary("rss", [90.0], per_s=False),
                    "rss_mib_10000_waiting": summary("rss", [95.0], per_s=False),
                },
            },
            {
                "name": "pg1",
                "workers": 1,
                "figures": {
                    "chain_steps_per_s": summary("chain", [chain_pg - 50, chain_pg, chain_pg + 5]),
                    "latency_median_ms": summary("latency", [latency], per_s=False),
                },
            },
            {"name": "pg2", "workers": 2, "figures": {"fan_out_per_s": summary("fan", [fan_out])}},
        ]
    }


def test_every_target_met_is_reported_met():
    lines = check_targets(report(chain_pg=350, fan_out=800, latency=9, step_1000_ms=2.5))
    assert len(lines) == 6
    assert all(line.startswith("met") for line in lines), lines


def test_each_missed_target_is_reported_with_its_figure():
    lines = check_targets(report(chain_pg=300, fan_out=450, latency=25, step_1000_ms=4.5))
    missed = [line for line in lines if line.startswith("NOT met")]
    assert len(missed) == 4, lines
    assert any("300 >= 330" in line for line in missed)  # the median, not the best run
    assert any("450 >= 500" in line for line in missed)
    assert any("25 <= 20" in line for line in missed)
    assert any("step 1000 4.5 ms" in line for line in missed)
    assert any(line.startswith("met") and "embedded chain" in line for line in lines)
