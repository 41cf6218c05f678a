"""FULL's per-call choice above the threshold (``_registry.Chooser``), with injected timings.

No assertion here depends on how fast this machine is: the chooser is fed the costs a quiet
machine, a busy core under TBB (no speed-up) and a busy core under OpenMP (stalled regions)
give, and a kernel is driven through a fake clock.
"""

import io

import numpy as np
import pytest

from tests.helpers import run_threads
from wasmpose import _registry, cpu, kernel_variants, opt_level, show_config
from wasmpose._registry import Chooser, Kernel

SER = 1.0e-9  # seconds per byte of the serial variant in these scenarios


def drive(chooser, calls, parallel_cost, serial_cost=lambda i: SER):
    """Run ``calls`` calls; each call's cost comes from the variant ``pick()`` chose.
    Returns the list of choices (True: parallel)."""
    picks = []
    for i in range(calls):
        par = chooser.pick()
        chooser.record(par, parallel_cost(i) if par else serial_cost(i))
        picks.append(par)
    return picks


def learned(parallel=0.5 * SER):
    c = Chooser()
    drive(c, 8, lambda i: parallel)
    return c


def test_a_quiet_machine_keeps_the_parallel_speed_up():
    c = Chooser()
    picks = drive(c, 2000, lambda i: 0.55 * SER)
    assert c.parallel and c.demotions == 0
    # the serial samples that keep the estimate fresh: one call in SAMPLE_EVERY
    serial_share = picks[100:].count(False) / len(picks[100:])
    assert serial_share == pytest.approx(1 / Chooser.SAMPLE_EVERY, abs=0.005)
    assert c.speedup() == pytest.approx(1 / 0.55)


def test_no_speed_up_demotes_and_the_probes_stay_out_of_the_p99():
    # a busy core under TBB: no stall, but the parallel variant is no faster than serial
    c = learned()
    picks = drive(c, 3000, lambda i: 1.0 * SER)
    assert not c.parallel
    assert c.interval == Chooser.MAX_INTERVAL
    assert picks[200:].count(True) / len(picks[200:]) < 0.01  # probes: below 1 call in 100


def test_a_stalled_region_demotes_at_once():
    # a busy core under OpenMP: a region waits a time slice for its preempted worker
    c = learned()
    assert c.parallel
    c.record(True, 20 * SER)
    assert not c.parallel and c.demotions == 1
    assert c.interval == 2 * Chooser.MIN_INTERVAL  # the demotion came soon after learning
    # a probe that stalls too: the rarest probes at once
    while c.pick() is False:
        c.record(False, SER)
    c.record(True, 20 * SER)
    assert not c.parallel and c.interval == 20 * Chooser.PROBE_SHARE > Chooser.MAX_INTERVAL


def test_a_parallel_variant_that_never_pays_costs_little():
    # a parallel variant 2500x slower than serial on this data (an all-pairs formulation)
    c = Chooser()
    picks = drive(c, 200_000, lambda i: 2500 * SER)
    assert not c.parallel
    assert picks[:4] == [True, False, True, False] and picks[4:100].count(True) == 1
    tail = picks[100:]  # after learning and the first probe: probes cost ~1/PROBE_SHARE
    spent = sum(2500 if p else 1 for p in tail)
    assert spent / len(tail) < 1 + 1.2 / Chooser.PROBE_SHARE


def test_stalls_under_lasting_load_keep_parallel_calls_below_one_in_a_hundred():
    # every other parallel call stalls 15x; fast ones are fast: probes may promote, the next
    # stall demotes, and the interval keeps doubling
    c = learned()
    stall = iter(range(10 ** 6))
    picks = drive(c, 5000, lambda i: (15 if next(stall) % 2 else 0.4) * SER)
    assert picks[500:].count(True) / len(picks[500:]) < 0.01
    assert not c.parallel or c.interval == Chooser.MAX_INTERVAL


def test_the_parallel_variant_comes_back_when_the_load_goes():
    c = learned()
    drive(c, 3000, lambda i: 1.0 * SER)  # loaded: serial, interval at its maximum
    assert not c.parallel
    picks = drive(c, Chooser.MAX_INTERVAL + 1, lambda i: 0.5 * SER)  # quiet again
    assert c.parallel and picks[-1] is True


def test_the_hysteresis_holds_between_keep_and_enter():
    c = learned(0.5 * SER)
    assert c.parallel
    # 1.1x faster: enough to stay parallel (KEEP 1.05)...
    drive(c, 500, lambda i: SER / 1.1)
    assert c.parallel and c.demotions == 0
    drive(c, 500, lambda i: 1.0 * SER)  # ...no speed-up: serial
    assert not c.parallel
    # ...and 1.1x is not enough to come back (ENTER 1.2)
    drive(c, 2000, lambda i: SER / 1.1)
    assert not c.parallel


def test_first_calls_are_ignored_and_the_learning_alternates():
    c = Chooser()
    assert c.parallel  # what the threshold says, until measured
    # the first call of each variant compiles (seconds): ignored
    picks = drive(c, 4, lambda i: 1.0 if i == 0 else 0.5 * SER,
                  serial_cost=lambda i: 1.0 if i == 1 else SER)
    assert picks == [True, False, True, False]
    assert c.parallel and c.par == 0.5 * SER and c.ser == SER
    assert c.n_par == 2 and c.n_ser == 2


def test_one_outlier_moves_an_estimate_by_a_bounded_amount():
    c = learned(0.5 * SER)
    c.record(False, 1000 * SER)  # a serial sample preempted for a time slice
    assert c.ser <= SER * (1 + Chooser.ALPHA_SAMPLE * (Chooser.CLIP - 1)) + 1e-18


class _Clock:
    """A fake perf_counter: each variant advances it by its cost for the call's bytes."""

    def __init__(self):
        self.now = 0.0
        self.reads = 0

    def __call__(self):
        self.reads += 1
        return self.now


def _fake_kernel(clock, parallel_cost, serial_cost=SER, threshold=1000):
    calls = []

    def serial(x):
        calls.append("serial")
        clock.now += serial_cost * x.nbytes
        return x * 2

    def parallel(x):
        calls.append("parallel")
        clock.now += parallel_cost[0] * x.nbytes
        return x * 2

    k = Kernel("fake_kernel", reference=lambda x: x * 2, serial=serial, parallel=parallel,
               parallel_min_bytes=threshold, example=lambda n: [(np.ones(n // 8),)])
    return k, calls


@pytest.fixture
def fake_clock(monkeypatch):
    if not cpu._PARALLEL_CAPABLE or cpu.threading_layer() not in _registry._TIMED_LAYERS:
        pytest.skip("FULL times its calls under tbb and omp only")
    monkeypatch.setattr(_registry, "ADAPTIVE", True)
    clock = _Clock()
    monkeypatch.setattr(_registry, "_clock", clock)
    return clock


def test_a_kernel_demotes_per_size_class_and_says_so(fake_clock):
    cost = [0.5 * SER]
    k, calls = _fake_kernel(fake_clock, cost)
    small, large = np.ones(250), np.ones(2000)  # 2,000 and 16,000 bytes: two size classes
    with opt_level("full"):
        for _ in range(50):
            np.testing.assert_array_equal(k(small.nbytes, small), small * 2)
            k(large.nbytes, large)
        assert k.variant_name(small.nbytes) == "numba-parallel"
        cost[0] = 1.0 * SER  # the load comes: no speed-up any more
        for _ in range(50):
            np.testing.assert_array_equal(k(small.nbytes, small), small * 2)
        assert k.variant_name(small.nbytes) == "numba-serial"
        assert k.variant_name(large.nbytes) == "numba-parallel"  # not called since: unchanged
        assert [lo for lo, _ in k.demoted()] == [1024]  # 1,024 to 2,047 bytes (threshold 1,000)
        assert k.chooser(small.nbytes) is k.choosers[1]
        n_par, n_ser = k.dispatch_counts()
        assert n_par + n_ser == 150 and n_par > n_ser
        # below the threshold: serial, untimed
        before = calls.count("serial")
        k(10, np.ones(1))
        assert calls.count("serial") == before + 1 and sum(k.dispatch_counts()) == 150
    with opt_level("parallel"):  # the other levels do not choose
        assert k.variant_name(small.nbytes) == "numba-parallel" and k.demoted() == []


def test_once_settled_on_serial_only_the_calls_before_a_probe_are_timed(fake_clock):
    cost = [1.0 * SER]  # no speed-up: demoted after learning, probes ever rarer
    k, calls = _fake_kernel(fake_clock, cost)
    x = np.ones(500)
    with opt_level("full"):
        for _ in range(1000):
            k(x.nbytes, x)
        c = k.chooser(x.nbytes)
        assert not c.parallel and c.interval == Chooser.MAX_INTERVAL
        reads = fake_clock.reads
        for _ in range(Chooser.MAX_INTERVAL):
            k(x.nbytes, x)
    timed = (fake_clock.reads - reads) // 2
    assert 1 <= timed <= _registry._UNTIMED + 2  # one probe and the calls just before it
    assert sum(k.dispatch_counts()) == 1000 + Chooser.MAX_INTERVAL
    assert calls.count("parallel") < 10


def test_pool_workers_and_other_levels_do_not_touch_the_choice(fake_clock):
    k, calls = _fake_kernel(fake_clock, [0.5 * SER])
    x = np.ones(500)
    with opt_level("full"), cpu.serial_kernels():
        for _ in range(5):
            k(x.nbytes, x)
    with opt_level("parallel"):
        k(x.nbytes, x)
    assert calls == ["serial"] * 5 + ["parallel"] and k.dispatch_counts() == (0, 0)


def test_adaptation_off_keeps_the_static_threshold(fake_clock, monkeypatch):
    monkeypatch.setattr(_registry, "ADAPTIVE", False)
    k, calls = _fake_kernel(fake_clock, [5.0 * SER])
    x = np.ones(500)
    with opt_level("full"):
        for _ in range(40):
            k(x.nbytes, x)
        assert k.demoted() == [] and k.variant_name(x.nbytes) == "numba-parallel"
    assert set(calls) == {"parallel"} and k.dispatch_counts() == (0, 0)


def test_threads_sharing_a_kernel_get_every_result_right(fake_clock):
    k, _ = _fake_kernel(fake_clock, [0.5 * SER])

    def work(seed):
        x = np.random.default_rng(seed).random(300)
        with opt_level("full"):
            for _ in range(300):
                np.testing.assert_array_equal(k(x.nbytes, x), x * 2)

    assert run_threads(work, [(s,) for s in range(6)]) == []
    assert 0 < sum(k.dispatch_counts()) <= 6 * 300  # a counter may lose an update, no more
    c = k.chooser(2400)
    assert 0 < c.interval <= Chooser.MAX_INTERVAL and c.countdown <= Chooser.MAX_INTERVAL


def test_show_config_and_kernel_variants_say_when_full_demotes(monkeypatch):
    if not cpu._PARALLEL_CAPABLE or cpu.threading_layer() not in _registry._TIMED_LAYERS:
        pytest.skip("FULL times its calls under tbb and omp only")
    monkeypatch.setattr(_registry, "ADAPTIVE", True)
    k = _registry.get_kernel("otsu_threshold")
    chooser = k.choosers[0]
    monkeypatch.setattr(chooser, "parallel", False)
    with opt_level("full"):
        assert kernel_variants()["otsu_threshold"] == "numba-serial"
        buf = io.StringIO()
        show_config(buf)
    line = next(ln for ln in buf.getvalue().splitlines() if ln.strip().startswith("otsu_threshold"))
    assert "numba-serial" in line and "demoted" in line


@pytest.mark.parametrize("name", sorted(_registry.all_kernels()))
def test_serial_and_parallel_variants_compute_the_same_bits(name):
    """What lets FULL choose per call: the choice changes the speed, never the result."""
    k = _registry.get_kernel(name)
    for args in k.examples(1 << 17):
        outs = []
        for variant in ("numba-serial", "numba-parallel"):
            a = tuple(x.copy() if isinstance(x, np.ndarray) else x for x in args)
            res = k.run(variant, *a)
            res = res if isinstance(res, tuple) else (res,)
            outs.append([np.asarray(r) for r in res if r is not None]
                        + [x for x in a if isinstance(x, np.ndarray)])
        for s, p in zip(*outs, strict=True):
            assert s.dtype == p.dtype and s.shape == p.shape, name
            assert s.tobytes() == p.tobytes(), name
