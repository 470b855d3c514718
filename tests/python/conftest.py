"""Fixtures of the Python package's tests: the project's loopback test
server (started here, stopped by PID) and clients on it.

Run by meson (tests/python/meson.build) with PYTHONPATH at the build's
python/ directory and UVF_TESTSERVER naming the server; by hand:

    PYTHONPATH=build/python UVF_TESTSERVER=build/tests/server/uvf-testserver \\
        /usr/bin/python3 -m pytest tests/python
"""
import glob
import json
import os
import re
import socket
import subprocess
import time
import urllib.request

import pytest

import uvfetch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def server_binary():
    path = os.environ.get("UVF_TESTSERVER")
    if path:
        return path
    found = sorted(glob.glob(os.path.join(ROOT, "build*", "tests", "server",
                                          "uvf-testserver")))
    if not found:
        pytest.exit("no uvf-testserver: set UVF_TESTSERVER")
    return found[0]


class Server:
    """uvf-testserver on loopback; url() builds URLs, stats() reads its
    counters (never through uvfetch)."""

    def __init__(self, bind="127.0.0.1"):
        self.proc = subprocess.Popen(
            [server_binary(), "--bind", bind, "--max-seconds", "600",
             "--quiet"], stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        m = re.match(r"PORT (\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError("test server said %r" % line)
        self.port = int(m.group(1))

    def url(self, path, host="127.0.0.1"):
        return "http://%s:%d%s" % (host, self.port, path)

    def get(self, path):
        with urllib.request.urlopen(self.url(path), timeout=10) as r:
            return r.read()

    def stats(self):
        return json.loads(self.get("/stats"))

    def reset(self):
        """Zeroes the counters once nothing is in flight."""
        self.wait_idle()
        self.get("/stats/reset")

    def wait_idle(self, timeout=5.0):
        """Seconds until nothing was in flight; fails after timeout."""
        t0 = time.monotonic()
        while self.stats()["in_flight"] > 0:
            if time.monotonic() - t0 > timeout:
                raise AssertionError("the server still has requests in "
                                     "flight after %.1f s" % timeout)
            time.sleep(0.01)
        return time.monotonic() - t0

    def connections_opened(self):
        """Connections accepted since the last reset: the server's total
        where it counts one ("connections" next to "open_connections"),
        else its peak of open connections."""
        s = self.stats()
        if "open_connections" in s:
            return s["connections"]
        return s["peak_connections"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def two_hosts():
    s = Server(bind="127.0.0.1,127.0.0.2")
    yield s
    s.stop()


@pytest.fixture
def client():
    with uvfetch.Client(concurrency=50) as c:
        yield c


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid="self"):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")
