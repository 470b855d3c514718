"""One client, many Python threads: right results, connections reused,
the GIL released while the loop works, and no crash under
PYTHONMALLOC=debug (the whole suite also runs against the ASan build)."""
import os
import subprocess
import sys
import threading
import time

import uvfetch

THREADS, CALLS, URLS, N = 8, 25, 20, 10


def hammer(client, base, errors):
    """CALLS calls of URLS URLs each; checks every result by index."""
    def work(t):
        try:
            for k in range(CALLS):
                urls = ["%s/delay/%d?bytes=%d&t=%d&k=%d" % (
                    base, (i * 7) % 5, t * 100 + i, t, k) for i in range(URLS)]
                results = client.fetch_all(urls)
                assert [r.url for r in results] == urls
                assert all(r.ok and r.bytes == t * 100 + i
                           for i, r in enumerate(results))
        except BaseException as e:  # reported by the main thread
            errors.append(e)
    threads = [threading.Thread(target=work, args=(t,))
               for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return threads


def test_eight_threads_share_one_client_and_its_connections(server):
    server.reset()
    errors = []
    with uvfetch.Client(concurrency=N) as c:
        threads = hammer(c, server.url(""), errors)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert server.stats()["requests"] == THREADS * CALLS * URLS
    # Connections are reused across calls and threads: about THREADS x N
    # in all, where a connection per call and slot would be 8 x 25 x 10.
    assert server.connections_opened() <= 2 * THREADS * N


CHILD = r"""
import sys
sys.path[:0] = [sys.argv[2]]
import uvfetch
from test_threads import hammer
errors = []
with uvfetch.Client(concurrency=%d) as c:
    hammer(c, sys.argv[1], errors)
    c.fetch_all(["not a url", sys.argv[1] + "/status/500"])
print("errors", len(errors), errors[:1])
sys.exit(1 if errors else 0)
"""


def test_eight_threads_run_clean_under_pythonmalloc_debug(server):
    env = dict(os.environ, PYTHONMALLOC="debug")
    here = os.path.dirname(os.path.abspath(__file__))
    p = subprocess.run([sys.executable, "-c", CHILD % N, server.url(""),
                        here], env=env, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()[-3000:]
    assert b"errors 0" in p.stdout


def test_the_gil_is_released_while_a_call_waits(server, client):
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)
    t = threading.Thread(target=ticker)
    t.start()
    try:
        client.fetch_all([server.url("/delay/400")])
    finally:
        stop.set()
        t.join()
    # 400 ms of 10 ms sleeps: about 40 ticks; a held GIL would give 1 or 2.
    assert 10 <= len(ticks) <= 60


def test_cancel_all_from_another_thread_ends_a_blocked_call(server, client):
    urls = [server.url("/delay/1?i=0")] + [
        server.url("/delay/20000?i=%d" % i) for i in range(1, 20)]
    timer = threading.Timer(0.3, client.cancel_all)
    t0 = time.monotonic()
    timer.start()
    results = client.fetch_all(urls)
    took = time.monotonic() - t0
    timer.join()
    assert 0.28 <= took <= 1.0
    assert results[0].ok
    assert {r.error for r in results[1:]} == {"aborted"}
    assert client.fetch_all([server.url("/bytes/1")])[0].ok  # still usable


def test_closing_the_client_ends_calls_in_other_threads(server):
    c = uvfetch.Client()
    out = []
    t = threading.Thread(target=lambda: out.append(
        c.fetch_all([server.url("/delay/20000")] * 3)))
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    c.close()
    t.join(timeout=10)
    assert time.monotonic() - t0 < 2
    assert [r.error for r in out[0]] == ["aborted"] * 3
