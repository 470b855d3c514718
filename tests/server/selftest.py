#!/usr/bin/env python3
"""Self-test of uvf-testserver: one behaviour per function, named for it.

    selftest.py PATH-TO-uvf-testserver [TEST-NAME...]

Talks raw HTTP over loopback sockets so that what the server does on the
wire (pipelining order, Connection handling, resets) is seen exactly; TLS
through Python's ssl module, verified against a CA that make-certs
generates into a temporary directory; h2 through the curl command, and
through a few lines of frame-level client where the frames themselves
matter (GOAWAY, RST_STREAM, SETTINGS).  Every socket and every curl has a
timeout and the servers have --max-seconds, so a hang fails instead of
blocking.  Ends with the line "N passed, M failed".
"""
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

BIN = None
PORT = None
TLSPORT = None
CERTS = None  # make-certs' output
TIMEOUT = 10


def pattern(n, start=0):
    return bytes(ord("a") + (start + i) % 26 for i in range(n))


def long_pattern(n):
    return (pattern(26) * (n // 26 + 1))[:n]


def start_server(*args):
    p = subprocess.Popen([BIN, "--max-seconds", "120", *args],
                         stdout=subprocess.PIPE)  # stderr: into the test log
    line = p.stdout.readline().decode()
    assert line.startswith("PORT "), "no PORT line: %r" % line
    return p, int(line.split()[1])


def start_tls_server(cert, *args):
    """A server with --tls and the named certificate: (proc, port, tls)."""
    pair = "%s/%s.pem,%s/%s.key" % (CERTS, cert, CERTS, cert)
    p, port = start_server("--tls", pair, "--quiet", *args)
    line = p.stdout.readline().decode()
    assert line.startswith("TLSPORT "), "no TLSPORT line: %r" % line
    return p, port, int(line.split()[1])


@contextlib.contextmanager
def tls_server(cert="server", *args):
    p, port, tls = start_tls_server(cert, *args)
    try:
        yield port, tls
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(TIMEOUT) == 0


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


def tls_context(alpn=("http/1.1",)):
    ctx = ssl.create_default_context(cafile=CERTS + "/ca.pem")
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def tls_connect(ctx=None, host="127.0.0.1", port=None, session=None):
    raw = socket.create_connection(("127.0.0.1", port or TLSPORT),
                                   timeout=TIMEOUT)
    try:
        return (ctx or tls_context()).wrap_socket(
            raw, server_hostname=host, session=session)
    except Exception:
        raw.close()
        raise


def request_on(s, path):
    s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path.encode())
    return read_response(s)


def curl(*args):
    """curl's stdout (text) and exit status."""
    r = subprocess.run(["curl", "-sS", "--max-time", str(TIMEOUT), *args],
                       capture_output=True, timeout=TIMEOUT + 5)
    return r.stdout.decode(), r.returncode


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


def test_other_methods_are_answered_after_their_body():
    with connect() as s:
        s.sendall(b"POST /bytes/1 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
                  b"GET /bytes/2 HTTP/1.1\r\n\r\n")
        status, hdrs, body, rest = read_response(s)
        assert status == 200 and hdrs["connection"] == "keep-alive"
        assert read_response(s, rest)[0] == 200


def test_echo_answers_method_headers_and_body():
    body = bytes(range(256)) * 300  # NUL bytes, and more than one read
    with connect() as s:
        s.sendall(b"PUT /echo?x=1 HTTP/1.1\r\nX-Probe: 42\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n"
                  % len(body))
        assert read_response(s)[0] == 100
        s.sendall(body)
        status, _, got, _ = read_response(s)
    echo = json.loads(got)
    assert status == 200 and echo["method"] == "PUT", echo["method"]
    assert echo["target"] == "/echo?x=1"
    assert ["X-Probe", "42"] in echo["headers"]
    assert base64.b64decode(echo["body_base64"]) == body


def test_status_with_location_and_repeated_response_headers():
    status, hdrs, _, _ = get("/status/303?location=%2Fecho%3Fa")
    assert status == 303 and hdrs["location"] == "/echo?a", hdrs
    with connect() as s:
        s.sendall(b"GET /response-headers?Set-Cookie=a%3D1&Set-Cookie=b"
                  b"%3D2 HTTP/1.1\r\n\r\n")
        data = s.recv(65536)
    assert data.count(b"Set-Cookie: ") == 2 and b"a=1" in data, data


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


# ---- TLS ----

def test_tls_serves_http11_verified_by_the_ca():
    for host in ("127.0.0.1", "localhost"):
        with tls_connect(host=host) as s:
            assert s.selected_alpn_protocol() == "http/1.1"
            status, hdrs, body, _ = request_on(s, "/bytes/100")
            assert status == 200 and body == pattern(100)
            assert hdrs["connection"] == "keep-alive"


def test_tls_12_and_13_both_work():
    for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                          (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        ctx = tls_context()
        ctx.minimum_version = ctx.maximum_version = version
        with tls_connect(ctx) as s:
            assert s.version() == name
            assert request_on(s, "/bytes/3")[2] == b"abc"


def test_tls_alpn_prefers_h2_then_http11():
    for offer, want in ((["http/1.1", "h2"], "h2"), (["http/1.1"], "http/1.1"),
                        (["spdy/3"], None), ([], None)):
        with tls_connect(tls_context(offer)) as s:
            assert s.selected_alpn_protocol() == want, (offer, want)
            if want != "h2":  # no ALPN at all is HTTP/1.1
                assert request_on(s, "/bytes/1")[0] == 200


def test_tls_no_h2_offers_http11_only():
    with tls_server("server", "--no-h2") as (port, tls):
        with tls_connect(tls_context(["h2", "http/1.1"]), port=tls) as s:
            assert s.selected_alpn_protocol() == "http/1.1"
            assert request_on(s, "/bytes/2")[2] == b"ab"
        out, rc = curl("--http2", "--cacert", CERTS + "/ca.pem", "-o",
                       os.devnull, "-w", "%{http_version}",
                       "https://127.0.0.1:%d/bytes/1" % tls)
        assert rc == 0 and out == "1.1", (out, rc)


def test_tls_sessions_resume_and_are_counted():
    get("/stats/reset")
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = tls_context()
        ctx.maximum_version = version
        with tls_connect(ctx) as s:
            request_on(s, "/bytes/1")  # TLS 1.3 tickets follow the handshake
            session = s.session
        with tls_connect(ctx, session=session) as s:
            assert s.session_reused, version
            assert request_on(s, "/bytes/1")[0] == 200
    st = stats()
    assert st["tls_handshakes"] == 4 and st["tls_resumed"] == 2, st
    assert st["requests"] == 4 and st["h2_streams"] == 0, st


def test_tls_pipelined_requests_and_long_bodies():
    paths = ["/bytes/3000000"] + ["/bytes/%d?i=%d" % (i, i) for i in range(30)]
    paths.insert(10, "/delay/100?bytes=3")
    with tls_connect() as s:
        s.sendall(b"".join(b"GET %s HTTP/1.1\r\n\r\n" % p.encode()
                           for p in paths))
        buf = b""
        for p in paths:
            status, hdrs, body, buf = read_response(s, buf)
            n = int(hdrs["content-length"])
            assert status == 200 and body == long_pattern(n), p


def test_tls_request_split_into_one_byte_records():
    with tls_connect() as s:
        for b in b"GET /bytes/5 HTTP/1.1\r\nX-A: b\r\n\r\n":
            s.send(bytes([b]))
        assert read_response(s)[2] == b"abcde"


def test_tls_port_refuses_plain_http():
    with socket.create_connection(("127.0.0.1", TLSPORT),
                                  timeout=TIMEOUT) as s:
        s.sendall(b"GET /bytes/1 HTTP/1.1\r\n\r\n")
        got = b""
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                got += d
        except ConnectionResetError:
            pass
        assert b"HTTP/1.1" not in got
    with tls_connect() as s:
        assert request_on(s, "/bytes/1")[0] == 200


def test_make_certs_bad_certificates_fail_as_named():
    for cert, why in (("wronghost", "mismatch"), ("expired", "expired"),
                      ("selfsigned", "self-signed")):
        with tls_server(cert) as (port, tls):
            try:
                tls_connect(port=tls).close()
                raise AssertionError("%s was accepted" % cert)
            except ssl.SSLCertVerificationError as e:
                assert why in str(e), (cert, str(e))


# ---- h2 with curl ----

def curl_h2(paths, *args, port=None):
    """Fetches paths over TLS in parallel, on one h2 connection: per path,
    its status, body, curl's exit code and HTTP version.  (curl 7.88
    cannot reuse an h2c connection: curl issue 10634.)"""
    base = "https://127.0.0.1:%d" % (port or TLSPORT)
    d = tempfile.mkdtemp(dir=CERTS)
    cmd = ["-Z", "--parallel-max", "50", "--output-dir", d, "--cacert",
           CERTS + "/ca.pem", "-w", "%{filename_effective} %{exitcode} "
           "%{http_code} %{http_version}\n", *args]
    for i, p in enumerate(paths):
        cmd += ["-o", str(i), base + p]
    out, _ = curl(*cmd)
    res = {}
    for line in out.splitlines():
        name, code, status, version = line.split()
        i = int(os.path.basename(name))
        body = b""
        if os.path.exists(name):  # not for a transfer that got no data
            with open(name, "rb") as f:
                body = f.read()
        res[paths[i]] = (int(status), body, int(code), version)
    shutil.rmtree(d)
    return res


def test_curl_h2_over_tls_serves_every_endpoint():
    paths = ["/bytes/100", "/delay/100?bytes=10", "/status/503",
             "/status/204", "/redirect/2?i=1", "/redirect-to?url=%2Fx",
             "/headers", "/gzip-bomb", "/nope", "/stats", "/bytes/2000000",
             "/status/500?bytes=7"]
    r = curl_h2(paths, "-H", "X-Test: yes")
    assert all(v[3] == "2" and v[2] == 0 for v in r.values()), r
    assert r["/bytes/100"][:2] == (200, pattern(100))
    assert r["/delay/100?bytes=10"][:2] == (200, pattern(10))
    assert r["/status/503"][:2] == (503, b"503 Service Unavailable\n")
    assert r["/status/204"][:2] == (204, b"")
    assert r["/redirect/2?i=1"][0] == 302
    assert r["/redirect-to?url=%2Fx"][0] == 302
    assert b"x-test: yes\r\n" in r["/headers"][1]
    assert r["/headers"][1].endswith(b"\r\n")
    assert r["/gzip-bomb"][0] == 200 and len(r["/gzip-bomb"][1]) == 8175
    assert r["/nope"][0] == 404
    assert "h2_streams" in json.loads(r["/stats"][1])
    assert r["/bytes/2000000"][1] == long_pattern(2000000)
    assert r["/status/500?bytes=7"][:2] == (500, pattern(7))


def test_curl_h2c_with_prior_knowledge():
    base = "http://127.0.0.1:%d" % PORT
    for path, want in (("/bytes/100", pattern(100)),
                       ("/delay/50?bytes=5", pattern(5)),
                       ("/status/404", b"404 Not Found\n")):
        out, rc = curl("--http2-prior-knowledge", "-w", " %{http_version}",
                       base + path)
        assert rc == 0 and out.encode() == want + b" 2", (path, out)
    out, rc = curl("--http2-prior-knowledge", "-o", "-", "-w",
                   " %{http_version}", base + "/bytes/5000000")
    assert rc == 0 and out.encode() == long_pattern(5000000) + b" 2"


def test_curl_h2_flaky_redirects_and_retry_after():
    base = "https://127.0.0.1:%d" % TLSPORT
    ca = CERTS + "/ca.pem"
    out, rc = curl("--cacert", ca, "-i", "-o", "-",
                   base + "/flaky/1?retry_after&i=h2", "-o", "-",
                   base + "/flaky/1?retry_after&i=h2")
    assert rc == 0 and "HTTP/2 503" in out and "retry-after: 1" in out, out
    assert out.rstrip().endswith("ok"), out
    out, rc = curl("--cacert", ca, "-L", "-w", " %{num_redirects}",
                   base + "/redirect/3?i=h2")
    assert rc == 0 and out == "done\n 3", out


def test_curl_h2_stats_count_streams_connections_and_peaks():
    get("/stats/reset")
    r = curl_h2(["/delay/300?i=%d" % i for i in range(6)])
    assert all(v[0] == 200 for v in r.values()), r
    st = stats()
    assert st["requests"] == 6 and st["h2_streams"] == 6, st
    assert st["h2_connections"] == 1 and st["peak_in_flight"] == 6, st
    assert st["tls_handshakes"] == 1, st
    assert st["connections"] == 2, st  # curl's, and this /stats one
    assert st["connections_by_addr"] == {"127.0.0.1": 2, "127.0.0.2": 0}, st


def test_curl_resumes_tls_sessions_within_one_run():
    get("/stats/reset")
    url = "https://127.0.0.1:%d/bytes/1" % TLSPORT
    out, rc = curl("--http1.1", "--cacert", CERTS + "/ca.pem", "-H",
                   "Connection: close", "-o", os.devnull, url, "-o",
                   os.devnull, url)
    assert rc == 0, out
    st = stats()
    assert st["tls_handshakes"] == 2 and st["tls_resumed"] == 1, st
    assert st["connections"] == 3, st


def test_curl_h2_rst_fails_that_transfer_only():
    r = curl_h2(["/h2/rst?delay=50", "/bytes/10"])
    assert r["/h2/rst?delay=50"][2] == 92, r  # CURLE_HTTP2_STREAM
    assert r["/bytes/10"][:3] == (200, pattern(10), 0), r
    assert get("/h2/rst")[0] == 404 and get("/h2/goaway")[0] == 404


def test_h2_max_streams_is_announced_and_obeyed():
    with tls_server("server", "--h2-max-streams", "1") as (port, tls):
        c = H2Client(port)
        f = c.frame()
        c.close()
        assert f[0] == SETTINGS and f[3][:6] == b"\0\3\0\0\0\1", f
        r = curl_h2(["/delay/200?i=1", "/delay/200?i=2"], port=tls)
        assert all(v[0] == 200 for v in r.values()), r
        with socket.create_connection(("127.0.0.1", port)) as s:
            st = json.loads(request_on(s, "/stats")[2])
        assert st["h2_connections"] == 3, st  # ours, and two of curl's


# ---- h2 frames ----

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = (
    0, 1, 3, 4, 6, 7, 8)
END_STREAM, ACK, END_HEADERS = 1, 1, 4


def h2_frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(
        ">BBI", ftype, flags, sid) + payload


class H2Client:
    """Just enough h2 to see the server's frames: a request is a HEADERS
    frame of HPACK literals (no table, no Huffman); response header blocks
    are never decoded.  SETTINGS and PING are answered."""

    def __init__(self, port=None):
        self.s = socket.create_connection(("127.0.0.1", port or PORT),
                                          timeout=TIMEOUT)
        self.buf = b""
        self.s.sendall(H2_PREFACE + h2_frame(SETTINGS, 0, 0))

    def get(self, sid, path):
        p = path.encode()
        assert len(p) < 127
        block = b"\x82\x86\x04" + bytes([len(p)]) + p + b"\x01\x01t"
        self.s.sendall(h2_frame(HEADERS, END_STREAM | END_HEADERS, sid, block))

    def frame(self):
        """(type, flags, stream id, payload), or None at the end."""
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(
                self.buf[:3], "big"):
            try:
                d = self.s.recv(65536)
            except ConnectionResetError:
                d = b""
            if not d:
                return None
            self.buf += d
        n = int.from_bytes(self.buf[:3], "big")
        ftype, flags, sid = struct.unpack(">BBI", self.buf[3:9])
        f = (ftype, flags, sid & 0x7FFFFFFF, self.buf[9:9 + n])
        self.buf = self.buf[9 + n:]
        if ftype in (SETTINGS, PING) and not flags & ACK:
            self.s.sendall(h2_frame(ftype, ACK, 0,
                                    f[3] if ftype == PING else b""))
        return f

    def until(self, done):
        """Frames up to and including the first for which done(f) holds."""
        got = []
        while True:
            f = self.frame()
            assert f is not None, "connection ended early: %r" % got
            got.append(f)
            if done(f):
                return got

    def close(self):
        self.s.close()


def stream_ended(f, sid):
    return f[2] == sid and (f[0] == RST_STREAM or f[1] & END_STREAM)


def test_h2_settings_give_128_streams_and_big_windows():
    c = H2Client()
    f = c.frame()
    assert f[0] == SETTINGS and not f[1] & ACK
    settings = dict(struct.unpack(">HI", f[3][i:i + 6])
                    for i in range(0, len(f[3]), 6))
    assert settings[3] == 128 and settings[4] == 1 << 20, settings
    f = c.until(lambda f: f[0] == WINDOW_UPDATE)[-1]
    assert f[2] == 0 and struct.unpack(">I", f[3])[0] == (16 << 20) - 65535
    c.close()


def test_h2_drop_resets_the_stream_after_1000_bytes():
    c = H2Client()
    c.get(1, "/drop")
    got = c.until(lambda f: stream_ended(f, 1))
    assert sum(len(f[3]) for f in got if f[0] == DATA and f[2] == 1) == 1000
    assert got[-1][0] == RST_STREAM and got[-1][3] == b"\0\0\0\2", got[-1]
    c.get(3, "/bytes/5")  # the connection goes on
    got = c.until(lambda f: stream_ended(f, 3))
    assert got[-1][:2] == (DATA, END_STREAM) and got[-1][3] == b"abcde"
    c.close()


def test_h2_rst_resets_after_its_delay_with_its_code():
    c = H2Client()
    t0 = time.monotonic()
    c.get(1, "/h2/rst?delay=200")
    f = c.until(lambda f: stream_ended(f, 1))[-1]
    assert f[0] == RST_STREAM and f[3] == b"\0\0\0\x08"  # CANCEL
    assert time.monotonic() - t0 >= 0.19
    c.get(3, "/h2/rst?code=7")
    f = c.until(lambda f: stream_ended(f, 3))[-1]
    assert f[0] == RST_STREAM and f[3] == b"\0\0\0\x07"  # REFUSED_STREAM
    c.close()


def test_h2_goaway_finishes_earlier_streams_refuses_later_ones():
    c = H2Client()
    t0 = time.monotonic()
    c.get(1, "/delay/400")
    c.get(3, "/h2/goaway?delay=100")
    got = c.until(lambda f: f[0] == GOAWAY)
    last, code = struct.unpack(">II", got[-1][3][:8])
    assert last == 3 and code == 0, (last, code)
    c.get(5, "/bytes/1")  # after the GOAWAY: never answered
    while True:
        f = c.frame()
        if f is None:
            break
        got.append(f)
    ended = [f[2] for f in got if f[2] and (f[1] & END_STREAM)]
    assert sorted(ended) == [1, 3], got
    assert not [f for f in got if f[2] == 5], got
    assert 0.39 <= time.monotonic() - t0 < 2  # closed once 1 was done
    c.close()


def test_h2c_streams_count_like_requests():
    get("/stats/reset")
    c = H2Client()
    for sid in range(1, 13, 2):
        c.get(sid, "/delay/200?i=%d" % sid)
    got = []
    while len([f for f in got if f[1] & END_STREAM and f[2]]) < 6:
        got.append(c.frame())
    c.close()
    st = stats()
    assert st["requests"] == 6 and st["h2_streams"] == 6, st
    assert st["h2_connections"] == 1 and st["peak_in_flight"] == 6, st


def test_h2_stall_and_client_reset_keep_in_flight_exact():
    get("/stats/reset")
    c = H2Client()
    c.get(1, "/stall")
    c.get(3, "/delay/5000")
    got = c.until(lambda f: f[0] == HEADERS and f[2] == 1)
    time.sleep(0.3)
    assert stats()["in_flight"] == 2
    c.s.sendall(h2_frame(RST_STREAM, 0, 3, b"\0\0\0\x08"))
    time.sleep(0.1)
    assert stats()["in_flight"] == 1
    c.s.settimeout(0.2)
    try:
        f = c.frame()
        assert f is None or f[2] != 1 or f[0] != DATA, f
    except socket.timeout:
        pass
    c.close()
    time.sleep(0.1)
    st = stats()
    assert st["in_flight"] == 0 and st["h2_streams"] == 2, st


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
    global BIN, PORT, TLSPORT, CERTS
    BIN = sys.argv[1]
    names = sys.argv[2:] or [n for n in globals() if n.startswith("test_")]
    CERTS = tempfile.mkdtemp(prefix="uvf-selftest-")
    subprocess.run([os.path.join(os.path.dirname(__file__), "make-certs"),
                    CERTS], check=True, timeout=60)
    server, PORT, TLSPORT = start_tls_server("server", "--bind",
                                             "127.0.0.1,127.0.0.2")
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
        shutil.rmtree(CERTS)
    if rc != 0:
        failed += 1
        print("FAIL server exit status", rc)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
