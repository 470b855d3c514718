#!/usr/bin/env python3
"""Self-test of uvf-testserver: one behaviour per function, named for it.

    selftest.py PATH-TO-uvf-testserver [TEST-NAME...]

Talks raw HTTP over loopback sockets so that what the server does on the
wire (pipelining order, Connection handling, resets) is seen exactly.
Every socket has a timeout and the server has --max-seconds, so a hang
fails instead of blocking.  Ends with the line "N passed, M failed".
"""
import json
import signal
import socket
import subprocess
import sys
import time

BIN = None
PORT = None
TIMEOUT = 10


def pattern(n, start=0):
    return bytes(ord("a") + (start + i) % 26 for i in range(n))


def start_server(*args):
    p = subprocess.Popen([BIN, "--max-seconds", "120", *args],
                         stdout=subprocess.PIPE)  # stderr: into the test log
    line = p.stdout.readline().decode()
    assert line.startswith("PORT "), "no PORT line: %r" % line
    return p, int(line.split()[1])


def connect(host="127.0.0.1"):
    return socket.create_connection((host, PORT), timeout=TIMEOUT)


def read_response(s, buf=b""):
    """Returns (status, headers, body, leftover bytes)."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError("connection closed in headers: %r" % buf[:200])
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", 0))
    while len(rest) < n:
        d = s.recv(1 << 20)
        if not d:
            raise EOFError("connection closed in body")
        rest += d
    return status, hdrs, rest[:n], rest[n:]


def get(path, host="127.0.0.1", method="GET"):
    with connect(host) as s:
        s.sendall(b"%s %s HTTP/1.1\r\nHost: t\r\n\r\n" %
                  (method.encode(), path.encode()))
        return read_response(s)


def stats():
    status, hdrs, body, _ = get("/stats")
    assert hdrs["content-type"] == "application/json"
    return json.loads(body)


def closed_by_peer(s):
    s.settimeout(TIMEOUT)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


# ---- endpoints ----

def test_bytes_body_is_the_pattern():
    status, hdrs, body, _ = get("/bytes/100")
    assert status == 200 and hdrs["content-length"] == "100"
    assert hdrs["content-type"] == "text/plain"
    assert body == pattern(100)


def test_bytes_large_body_streams_whole():
    n = 50 * 1000 * 1000
    status, hdrs, body, _ = get("/bytes/%d" % n)
    assert status == 200 and len(body) == n
    assert body == (pattern(26 * 1000) * (n // 26000 + 1))[:n]


def test_bytes_honours_delay_query():
    t0 = time.monotonic()
    status, _, body, _ = get("/bytes/3?delay=200&i=9")
    assert status == 200 and body == b"abc"
    assert time.monotonic() - t0 >= 0.19


def test_delay_waits_and_sends_16_bytes():
    t0 = time.monotonic()
    status, _, body, _ = get("/delay/300")
    elapsed = time.monotonic() - t0
    assert status == 200 and body == pattern(16)
    assert 0.29 <= elapsed < 0.6, elapsed


def test_delay_honours_bytes_query():
    assert get("/delay/10?bytes=1024&i=3")[2] == pattern(1024)


def test_status_sends_code_and_text():
    status, _, body, _ = get("/status/503")
    assert status == 503 and body == b"503 Service Unavailable\n"


def test_status_204_has_no_body():
    with connect() as s:
        s.sendall(b"GET /status/204 HTTP/1.1\r\n\r\nGET /bytes/2 HTTP/1.1\r\n\r\n")
        status, hdrs, body, rest = read_response(s)
        assert status == 204 and "content-length" not in hdrs
        assert read_response(s, rest)[2] == b"ab"


def test_status_honours_bytes_query():
    status, _, body, _ = get("/status/500?bytes=7")
    assert status == 500 and body == pattern(7)


def test_status_out_of_range_is_400():
    assert get("/status/99")[0] == 400
    assert get("/status/1000")[0] == 400


def test_redirect_counts_down_keeping_query():
    status, hdrs, _, _ = get("/redirect/2?i=5")
    assert status == 302 and hdrs["location"] == "/redirect/1?i=5"
    status, _, body, _ = get("/redirect/0?i=5")
    assert status == 200 and body == b"done\n"


def test_redirect_to_decodes_url():
    status, hdrs, _, _ = get("/redirect-to?i=1&url=file%3A%2F%2F%2Ftmp%2Fx")
    assert status == 302 and hdrs["location"] == "file:///tmp/x"


def test_redirect_to_refuses_control_bytes():
    assert get("/redirect-to?url=%2Fa%0D%0AX-Evil%3A%201")[0] == 400


def test_unknown_path_is_404():
    assert get("/nope")[0] == 404
    assert get("/bytes/12x")[0] == 400


def test_head_sends_headers_only():
    with connect() as s:
        s.sendall(b"HEAD /bytes/1000000 HTTP/1.1\r\n\r\n"
                  b"GET /bytes/1 HTTP/1.1\r\n\r\n")
        buf = b""
        while not buf.endswith(b"\r\n\r\na"):
            buf += s.recv(4096)
        assert b"Content-Length: 1000000\r\n" in buf
        assert buf.count(b"HTTP/1.1 200") == 2


def test_drop_resets_after_1000_bytes():
    with connect() as s:
        s.sendall(b"GET /drop HTTP/1.1\r\n\r\n")
        got, reset = b"", False
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
        except ConnectionResetError:
            reset = True
        assert reset, "expected a reset"
        head, body = got.split(b"\r\n\r\n", 1)
        assert b"Content-Length: 100000" in head and body == pattern(1000)


def test_stall_sends_headers_then_nothing():
    with connect() as s:
        s.sendall(b"GET /stall HTTP/1.1\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        assert b"Content-Length: 100\r\n" in buf
        assert buf.endswith(b"\r\n\r\n")
        s.settimeout(0.3)
        try:
            assert s.recv(1) == b"", "stall sent body bytes"
            raise AssertionError("stall closed the connection")
        except socket.timeout:
            pass


def test_trickle_sends_one_byte_per_second():
    t0 = time.monotonic()
    status, _, body, _ = get("/trickle?bytes=2")
    elapsed = time.monotonic() - t0
    assert status == 200 and body == b"ab"
    assert 1.9 <= elapsed < 2.6, elapsed


# ---- HTTP/1.1 connection handling ----

def test_pipelined_requests_answered_in_order():
    reqs = [b"/bytes/%d?i=%d" % (i, i) for i in range(40)]
    reqs.insert(20, b"/delay/100?bytes=3")
    with connect() as s:
        s.sendall(b"".join(b"GET %s HTTP/1.1\r\n\r\n" % r for r in reqs))
        buf = b""
        for r in reqs:
            status, hdrs, body, buf = read_response(s, buf)
            want = 3 if r.startswith(b"/delay") else int(r.split(b"/")[2].split(b"?")[0])
            assert body == pattern(want), r
            assert hdrs["connection"] == "keep-alive"


def test_request_split_into_single_bytes():
    with connect() as s:
        for b in b"GET /bytes/5 HTTP/1.1\r\nX-A: b\r\n\r\n":
            s.send(bytes([b]))
        assert read_response(s)[2] == b"abcde"


def test_connection_close_is_honoured():
    with connect() as s:
        s.sendall(b"GET /bytes/2 HTTP/1.1\r\nConnection: close\r\n\r\n")
        _, hdrs, _, rest = read_response(s)
        assert hdrs["connection"] == "close"
        assert rest == b"" and closed_by_peer(s)


def test_http10_closes_unless_keep_alive():
    with connect() as s:
        s.sendall(b"GET /bytes/2 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
                  b"GET /bytes/3 HTTP/1.0\r\n\r\n")
        _, hdrs, _, rest = read_response(s)
        assert hdrs["connection"] == "keep-alive"
        _, hdrs, body, rest = read_response(s, rest)
        assert body == b"abc" and hdrs["connection"] == "close"
        assert closed_by_peer(s)


def test_half_close_still_gets_immediate_answers():
    with connect() as s:
        s.sendall(b"GET /bytes/1 HTTP/1.1\r\n\r\nGET /bytes/2 HTTP/1.1\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        status, _, _, rest = read_response(s)
        assert read_response(s, rest)[2] == b"ab"
        assert closed_by_peer(s)


def test_client_leaving_ends_a_delay_at_once():
    get("/stats/reset")
    s = connect()
    s.sendall(b"GET /delay/5000 HTTP/1.1\r\n\r\n")
    time.sleep(0.1)
    assert stats()["in_flight"] == 1
    s.close()
    time.sleep(0.1)
    st = stats()
    assert st["in_flight"] == 0 and st["open_connections"] == 1, st


def test_garbage_gets_400_and_close():
    with connect() as s:
        s.sendall(b"HELLO THERE\r\n\r\nmore garbage")
        status, hdrs, _, _ = read_response(s)
        assert status == 400 and hdrs["connection"] == "close"
        assert closed_by_peer(s)


def test_other_methods_get_405():
    with connect() as s:
        s.sendall(b"POST /bytes/1 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
        status, hdrs, _, _ = read_response(s)
        assert status == 405 and hdrs["connection"] == "close"


def test_header_block_over_64k_gets_431():
    with connect() as s:
        try:
            s.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
        except OSError:
            pass
        assert read_response(s)[0] == 431


def test_header_block_of_exactly_64k_is_fine():
    line = b"GET /bytes/1 HTTP/1.1\r\n"
    fill = 65536 - len(line) - len(b"X: \r\n\r\n")
    with connect() as s:
        s.sendall(line + b"X: " + b"a" * fill + b"\r\n\r\n")
        assert read_response(s)[0] == 200


# ---- /stats ----

def test_stats_count_in_flight_per_address():
    get("/stats/reset")
    socks = []
    for i in range(12):
        s = connect("127.0.0.1" if i < 4 else "127.0.0.2")
        s.sendall(b"GET /delay/400?i=%d HTTP/1.1\r\n\r\n" % i)
        socks.append(s)
    time.sleep(0.2)
    during = stats()
    for s in socks:
        read_response(s)
        s.close()
    time.sleep(0.1)
    after = stats()
    assert during["in_flight"] == 12, during
    assert after["in_flight"] == 0 and after["requests"] == 12, after
    assert after["peak_in_flight"] == 12, after
    assert after["peak_in_flight_by_addr"] == {"127.0.0.1": 4,
                                              "127.0.0.2": 8}, after


def test_stats_reset_clears_requests_and_peaks():
    get("/bytes/1")
    st = json.loads(get("/stats/reset")[2])
    assert st["requests"] == 0 and st["peak_in_flight"] == 0, st
    assert stats()["requests"] == 0


def test_stall_stays_in_flight_until_peer_leaves():
    s = connect()
    s.sendall(b"GET /stall HTTP/1.1\r\n\r\n")
    time.sleep(0.1)
    assert stats()["in_flight"] == 1
    s.close()
    time.sleep(0.1)
    st = stats()
    assert st["in_flight"] == 0 and st["open_connections"] == 1, st


# ---- process ----

def test_refuses_non_loopback_bind():
    r = subprocess.run([BIN, "--bind", "10.0.0.1"], capture_output=True,
                       timeout=TIMEOUT)
    assert r.returncode != 0 and r.stdout == b""


def test_exits_after_max_seconds():
    r = subprocess.run([BIN, "--bind", "localhost", "--max-seconds", "1",
                        "--quiet"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0 and r.stdout.startswith(b"PORT ")
    assert r.stdout.count(b"\n") == 1


def test_sigterm_exits_zero_promptly():
    p, port = start_server("--quiet")
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(b"GET /stall HTTP/1.1\r\n\r\n")
    time.sleep(0.1)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    rc = p.wait(TIMEOUT)
    s.close()
    assert rc == 0 and time.monotonic() - t0 < 2
    assert p.stdout.read() == b""


def main():
    global BIN, PORT
    BIN = sys.argv[1]
    names = sys.argv[2:] or [n for n in globals() if n.startswith("test_")]
    server, PORT = start_server("--bind", "127.0.0.1,127.0.0.2", "--quiet")
    passed = failed = 0
    try:
        for name in names:
            try:
                globals()[name]()
                passed += 1
                print("ok", name, flush=True)
            except Exception as e:  # report every failure, then go on
                failed += 1
                print("FAIL", name, "%s: %s" % (type(e).__name__, e),
                      flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        rc = server.wait(TIMEOUT)
    if rc != 0:
        failed += 1
        print("FAIL server exit status", rc)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
