"""Ctrl-C (SIGINT to this process) in a stalled blocking call raises
KeyboardInterrupt within 100 ms and cancels the call; leaving a fetch()
loop early cancels what it started; the client stays usable."""
import os
import signal
import threading
import time

import pytest

import uvfetch

LIMIT = 0.100  # seconds from SIGINT to KeyboardInterrupt


def sigint_after(seconds):
    """Sends SIGINT to this process after `seconds`; returns a list that
    gets the monotonic time it was sent."""
    sent = []

    def fire():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)
    t = threading.Timer(seconds, fire)
    t.start()
    return t, sent


def stalled(server, n):
    return [server.url("/stall?i=%d" % i) for i in range(n)]


def interrupted(call):
    """Runs call() until SIGINT, 300 ms in; returns seconds from the
    signal to the KeyboardInterrupt."""
    timer, sent = sigint_after(0.3)
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
        caught = time.monotonic()
    finally:
        timer.cancel()
        timer.join()
    assert sent, "the call ended before the signal"
    return caught - sent[0]


def test_ctrl_c_in_fetch_all_raises_within_100_ms(server, client):
    delay = interrupted(lambda: client.fetch_all(stalled(server, 40)))
    assert 0 <= delay <= LIMIT
    server.wait_idle(timeout=1.0)  # the stalled transfers were ended
    assert client.fetch_all([server.url("/bytes/3")])[0].ok


def test_ctrl_c_while_iterating_fetch_raises_within_100_ms(server, client):
    def loop():
        for _ in client.fetch(iter(stalled(server, 40))):
            pass
    delay = interrupted(loop)
    assert 0 <= delay <= LIMIT
    server.wait_idle(timeout=1.0)
    assert client.fetch_all([server.url("/bytes/3")])[0].ok


def test_ctrl_c_in_the_one_shot_fetch_all_raises_within_100_ms(server):
    delay = interrupted(lambda: uvfetch.fetch_all(stalled(server, 10)))
    assert 0 <= delay <= LIMIT
    server.wait_idle(timeout=1.0)


def test_break_out_of_fetch_cancels_what_it_started(server, client):
    server.reset()
    read = []

    def urls():
        for i in range(100000):
            read.append(i)
            # the first answers after 200 ms: long enough for all 10 to
            # be in flight by then, even on a loaded machine
            yield server.url("/delay/%d?i=%d" % (200 if i == 0 else 20000, i))
    for r in client.fetch(urls(), concurrency=10):
        assert r.index == 0
        break
    waited = server.wait_idle(timeout=2.0)
    assert waited < 0.5
    assert server.stats()["peak_in_flight"] == 10
    assert len(read) <= 2 * 10 + 1  # the input was read only as needed


def test_closing_a_fetch_cancels_it_at_once(server, client):
    it = client.fetch([server.url("/stall?i=%d" % i) for i in range(5)])
    assert it.poll() == []
    it.close()
    assert list(it) == []
    assert server.wait_idle(timeout=2.0) < 0.5


def test_cancel_from_another_thread_ends_iteration_with_aborted(server,
                                                                client):
    it = client.fetch([server.url("/stall?i=%d" % i) for i in range(5)])
    threading.Timer(0.2, it.cancel).start()
    t0 = time.monotonic()
    errors = [r.error for r in it]
    assert 0.18 <= time.monotonic() - t0 <= 1.0
    assert errors == ["aborted"] * 5
