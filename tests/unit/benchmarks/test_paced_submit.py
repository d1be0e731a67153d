"""Issue 16, row 1: the paced submit mode of benchmarks/submission_bench.py sends on a fixed
schedule (open loop), reads quantiles by the nearest rank and splits a submission's time into
its hops from the outbox marks."""

from __future__ import annotations

import pytest

from benchmarks.submission_bench import EVENT_MARKS, HOPS, hop_figures, mark_rows, quantile, schedule


def test_the_schedule_is_fixed_by_the_rate_not_by_the_answers() -> None:
    times = schedule(5, 4.0, 100.0)
    assert times == [100.0, 100.25, 100.5, 100.75, 101.0]
    with pytest.raises(ValueError, match="positive"):
        schedule(3, 0, 0.0)


def test_quantiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 100 .. 1, unsorted
    assert quantile(values, 0.50) == 50
    assert quantile(values, 0.90) == 90
    assert quantile(values, 0.99) == 99
    # Ten values: p99 is the largest, not the 9th (a slow tail is never rounded away).
    assert quantile([float(v) for v in range(1, 11)], 0.99) == 10
    assert quantile([7.0], 0.99) == 7
    assert quantile([], 0.5) != quantile([], 0.5)  # nan


def test_each_hop_is_the_gap_between_its_two_marks() -> None:
    sent = {"a": 10.0, "b": 20.0}
    seen = {"a": 10.5, "b": 20.5}

    def events(t0: float) -> dict[str, tuple[float, float | None]]:
        # every mark 10 ms after the one before (written, then published)
        return {t: (t0 + 0.01 * (2 * k + 1), t0 + 0.01 * (2 * k + 2)) for k, (_, t) in enumerate(EVENT_MARKS)}

    rows = {"a": events(10.0), "b": events(20.0)}
    # b: the signer's row is missing (its submission was not signed, say): hops that need it
    # are not counted for b
    del rows["b"]["ApplicationSigned"]
    marks = mark_rows(sent, seen, rows)
    assert len(marks["a"]) == len(HOPS) + 1
    hops = hop_figures(marks)
    assert list(hops) == [key for key, _ in HOPS]
    for key, _ in HOPS[:-1]:
        assert hops[key]["p50_ms"] == pytest.approx(10.0)
    # The last hop: from SubmissionAccepted published (+80 ms) to seen (+500 ms).
    assert hops["apply"]["n"] == 2
    assert hops["apply"]["max_ms"] == pytest.approx(420.0)
    # b has no ApplicationSigned marks: neither the hop into them nor out of them counts.
    assert hops["sign"]["n"] == 1
    assert hops["relay_signed"]["n"] == 1
    assert hops["send"]["n"] == 1
    assert hops["submit"]["n"] == 2
