from __future__ import annotations

from bench.profile import function_of, summarise


def test_a_py_spy_profile_is_summed_per_thread_and_function():
    raw = ("thread (0x1): collector-worker;_work (collector/service.py:200);examine (collector/intake.py:40) 60\n"
           "thread (0x1): collector-worker;_work (collector/service.py:201);write (collector/store.py:30) 20\n"
           "thread (0x2): paho;_loop (paho/client.py:10) 20\n")
    summary = summarise(raw)
    assert summary.samples == 100
    assert [(s.name, s.pct) for s in summary.threads] == [("collector-worker", 80.0), ("paho", 20.0)]
    assert summary.self_time[0].name == "examine (intake.py)" and summary.self_time[0].pct == 60.0
    assert ("_work (service.py)", 80.0) in [(s.name, s.pct) for s in summary.inclusive]
    assert function_of("to_points (agent/contract.py:420)") == "to_points (contract.py)"

