"""``LightFuture`` (the futures ``DynamicBatcher.submit`` returns) behaves as ``Future`` does.

Every scenario runs on both classes: the plain ``concurrent.futures.Future`` is the oracle.
"""

import asyncio
import concurrent.futures as cf
import threading
import time

import pytest

from wasmpose.parallel._future import LightFuture

KINDS = [cf.Future, LightFuture]


@pytest.fixture(params=KINDS, ids=["Future", "LightFuture"])
def make(request):
    return request.param


def test_same_state_as_future_init():
    # LightFuture.__init__ repeats Future.__init__; a Python that adds state must fail here
    assert vars(LightFuture()).keys() == vars(cf.Future()).keys()
    assert isinstance(LightFuture(), cf.Future)


def test_result_timeout_then_result(make):
    f = make()
    with pytest.raises(cf.TimeoutError):
        f.result(timeout=0.01)
    with pytest.raises(cf.TimeoutError):
        f.result(timeout=0)
    f.set_result(5)
    assert f.result(timeout=0) == 5 and f.done() and not f.cancelled()
    if isinstance(f, LightFuture):  # timed-out waiters removed themselves
        assert not f._condition._waiters


def test_many_waiters_woken_by_one_result(make):
    f = make()
    got, started = [], threading.Barrier(9)

    def wait():
        started.wait()
        got.append(f.result(timeout=10))

    threads = [threading.Thread(target=wait) for _ in range(8)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.02)
    f.set_result("x")
    for t in threads:
        t.join(10)
    assert got == ["x"] * 8


def test_exception_and_cancel(make):
    f = make()
    f.set_exception(KeyError("k"))
    assert isinstance(f.exception(), KeyError)
    with pytest.raises(KeyError):
        f.result()
    g = make()
    assert g.cancel() and g.cancelled()
    with pytest.raises(cf.CancelledError):
        g.result()
    assert not g.set_running_or_notify_cancel()
    h = make()
    assert h.set_running_or_notify_cancel() and h.running() and not h.cancel()
    h.set_result(1)
    with pytest.raises(cf.InvalidStateError):
        h.set_result(2)


def test_done_callbacks_called_once(make):
    f, calls = make(), []
    f.add_done_callback(calls.append)
    f.set_result(1)
    f.add_done_callback(calls.append)  # already done: called at once
    assert calls == [f, f]


def test_wait_and_as_completed_mixed(make):
    fs = [make() for _ in range(4)] + [cf.Future()]

    def finish():
        for k, f in enumerate(reversed(fs)):
            time.sleep(0.005)
            f.set_result(k)

    t = threading.Thread(target=finish)
    t.start()
    done, _ = cf.wait(fs, timeout=10, return_when=cf.FIRST_COMPLETED)
    assert done
    assert sorted(f.result() for f in cf.as_completed(fs, timeout=10)) == [0, 1, 2, 3, 4]
    t.join()
    done, pending = cf.wait(fs, timeout=0)
    assert len(done) == 5 and not pending


def test_asyncio_wrap_future(make):
    f = make()

    async def main():
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, lambda: threading.Thread(target=f.set_result, args=(7,)).start())
        return await asyncio.wait_for(asyncio.wrap_future(f), 10)

    assert asyncio.run(main()) == 7


def test_condition_is_reentrant(make):
    f = make()
    with f._condition, f._condition:  # Future's condition is over an RLock
        f._condition.notify_all()
    assert f._condition.acquire(False)
    f._condition.release()


def test_a_timeout_longer_than_the_lock_accepts_waits_instead_of_overflowing():
    # a plain Future raises OverflowError for result(timeout=1e13); the batcher's futures wait
    f = LightFuture()
    threading.Timer(0.05, f.set_result, (5,)).start()
    assert f.result(timeout=1e13) == 5
    g = LightFuture()
    threading.Timer(0.05, g.set_exception, (KeyError("k"),)).start()
    assert isinstance(g.exception(timeout=1e300), KeyError)
