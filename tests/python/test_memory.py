"""A million URLs, and a million Requests, through fetch() from a
generator: RSS stays flat.

The run is a child process, so that its RSS is the fetch's alone. 99% of
the URLs are invalid (their results come from the library at once, through
the same submit window and Result objects) and 1% are real transfers, so a
million take seconds, not minutes. The Requests carry a method, headers
and a body each (the real ones to /echo, whose answer is checked), and
their results the response headers, read. Under ASan the child's
quarantine is made small: freed memory parked there would look like
growth."""
import os
import subprocess
import sys

import pytest

URLS = 1000000
GROWTH_KIB = 4096  # from 10% to 90% of the run

CHILD = r"""
import sys
import uvfetch
n, base = int(sys.argv[1]), sys.argv[2]

def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

def urls():
    for i in range(n):
        yield base + "/bytes/16?i=%d" % i if i % 100 == 0 else "u%d" % i

def requests():
    for i in range(n):
        url = base + "/echo?i=%d" % i if i % 100 == 0 else "u%d" % i
        yield uvfetch.Request(url, method=("PUT", "POST")[i % 2],
                              headers={"X-I": str(i), "X-Pad": "p" * 40},
                              data=b"%d\0" % i)

seen = ok = 0
marks = {n // 10: None, 9 * n // 10: None}
with uvfetch.Client(concurrency=100) as c:
    for r in c.fetch(requests() if sys.argv[3] == "requests" else urls()):
        seen += 1
        if r.ok and sys.argv[3] == "requests":
            i = r.url.rsplit("=", 1)[1]
            assert ["X-I", i] in r.json()["headers"], r.index
            assert r.headers["content-type"] == "application/json"
        ok += r.ok
        if seen in marks:
            marks[seen] = rss()
print(seen, ok, marks[n // 10], marks[9 * n // 10])
"""


@pytest.mark.parametrize("kind", ["urls", "requests"])
def test_a_million_through_fetch_keep_rss_flat(server, kind):
    env = dict(os.environ)
    if "LD_PRELOAD" in env and "asan" in env["LD_PRELOAD"]:
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + \
            ":quarantine_size_mb=1:thread_local_quarantine_size_kb=16"
    p = subprocess.run([sys.executable, "-c", CHILD, str(URLS),
                        server.url(""), kind], env=env, capture_output=True,
                       timeout=140)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    seen, ok, at10, at90 = map(int, p.stdout.split())
    assert (seen, ok) == (URLS, URLS // 100)
    assert at90 - at10 <= GROWTH_KIB, "RSS %d KiB at 10%%, %d at 90%%" % (
        at10, at90)
