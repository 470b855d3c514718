"""Requests: a URL with its own method, headers and body, taken wherever a
URL is, checked by the test server's /echo; response headers in
Result.headers; keep_headers, max_header_bytes and retry_all_methods."""
import asyncio
import base64
import collections.abc
import json
import os
import pickle
import threading
import time

import pytest

import uvfetch
from uvfetch import Headers, Request

THREADS, PER_THREAD = 8, 125  # 1000 requests, each with its own headers


def echo(r):
    """What /echo received: (method, {lower-cased name: [values]}, body)."""
    assert r.ok, (r.error, r.status, r.message)
    e = r.json()
    headers = {}
    for name, value in e["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    body = base64.b64decode(e["body_base64"])
    assert len(body) == e["body_length"]
    return e["method"], headers, body


def unique(path):
    return "%s?t=%r" % (path, time.time())


# ---- bodies and methods ----

@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "post", "delete"])
def test_bodies_with_nul_bytes_go_whole_with_every_method(server, client,
                                                           method):
    body = b"\0a\0\0b\r\n\0" + bytes(range(256)) + b"\0"
    (r,) = client.fetch_all([Request(server.url("/echo"), method=method,
                                     data=body)])
    m, h, got = echo(r)
    assert (m, got) == (method.upper(), body)
    assert h["content-length"] == [str(len(body))]


def test_a_body_of_one_mib_is_echoed_back_whole(server, client):
    body = bytearray(os.urandom(1 << 20))
    body[::4096] = bytes(len(body[::4096]))  # NULs all through it
    sent = bytes(body)
    reqs = [Request(server.url("/echo?m=" + m), method=m, data=body)
            for m in ("POST", "PUT", "PATCH")]
    body[0] = 1  # a Request keeps its own copy of a bytearray
    for r, m in zip(client.fetch_all(reqs), ("POST", "PUT", "PATCH")):
        method, _, got = echo(r)
        assert (method, len(got)) == (m, 1 << 20)
        assert got == sent


def test_data_of_each_kind_is_sent_as_requests_sends_it(server, client):
    url = server.url("/echo")
    reqs = [Request(url), Request(url, data="é\0"),
            Request(url, data=memoryview(b"mv")),
            Request(url, data={"a": "1 2", "b": ["x", "y"]}),
            Request(url, data=[("k", "v&w")]), Request(url, data=b""),
            Request(url, method="DELETE")]
    got = [echo(r) for r in client.fetch_all(reqs)]
    assert [(m, b) for m, _, b in got] == [
        ("GET", b""), ("POST", "é\0".encode()), ("POST", b"mv"),
        ("POST", b"a=1+2&b=x&b=y"), ("POST", b"k=v%26w"), ("POST", b""),
        ("DELETE", b"")]
    assert got[3][1]["content-type"] == ["application/x-www-form-urlencoded"]
    assert "content-length" not in got[0][1]


def test_json_is_sent_compact_with_its_content_type_and_accept(server):
    url = server.url("/echo")
    value = {"name": "é", "n": [1, 2.5, None, True]}
    with uvfetch.Client() as c:
        r, put, typed, falsy = c.fetch_all([
            Request(url, json=value),
            Request(url, method="PUT", json=[]),
            Request(url, json=0, headers={"content-type":
                                          "application/vnd.x+json"}),
            Request(url, json=None)])  # as in requests: no body
    m, h, body = echo(r)
    assert m == "POST"
    assert body == '{"name":"é","n":[1,2.5,null,true]}'.encode()
    assert json.loads(body) == value
    assert (h["content-type"], h["accept"]) == (["application/json"],
                                                ["application/json"])
    assert echo(put)[0] == "PUT" and echo(put)[2] == b"[]"
    m, h, body = echo(typed)
    assert (body, h["content-type"], h["accept"]) == (
        b"0", ["application/vnd.x+json"], ["application/json"])
    m, h, body = echo(falsy)
    assert (m, body, "content-type" in h) == ("GET", b"", False)


@pytest.mark.parametrize("n", [14, 15, 16, 17])
def test_json_adds_its_headers_to_many_of_the_requests_own(server, client,
                                                            n):
    """Around the module's stack array of 16 header lines."""
    h = {"X-%d" % k: str(k) for k in range(n)}
    (r,) = client.fetch_all([Request(server.url("/echo"), json=n,
                                     headers=h)])
    _, got, body = echo(r)
    assert body == b"%d" % n
    assert {k: v for k, v in got.items() if k.startswith("x-")} == {
        "x-%d" % k: [str(k)] for k in range(n)}
    assert (got["content-type"], got["accept"]) == (["application/json"],
                                                    ["application/json"])


def test_json_leaves_the_clients_own_accept_alone(server):
    with uvfetch.Client(headers={"Accept": "application/x-ndjson"}) as c:
        (r,) = c.fetch_all([Request(server.url("/echo"), json={"a": 1})])
    _, h, _ = echo(r)
    assert h["accept"] == ["application/x-ndjson"]
    assert h["content-type"] == ["application/json"]


def test_request_headers_add_to_replace_and_remove_the_clients(server):
    with uvfetch.Client(headers={"X-Client": "c", "X-Both": "client"},
                        user_agent="ua/1") as c:
        (r,) = c.fetch_all([Request(
            server.url("/echo"),
            headers=[("X-Both", "request"), ("User-Agent", None),
                     ("X-Empty", ""), "X-Line:  spaced value "])])
    _, h, _ = echo(r)
    assert h["x-client"] == ["c"] and h["x-both"] == ["request"]
    assert "user-agent" not in h
    assert h["x-empty"] == [""] and h["x-line"] == ["spaced value"]


@pytest.mark.parametrize("code, method, body", [(303, "GET", b""),
                                                (307, "POST", b"p\0q")])
def test_redirects_of_a_post_go_as_in_browsers(server, client, code, method,
                                                body):
    url = server.url("/status/%d?location=%%2Fecho" % code)
    (r,) = client.fetch_all([Request(url, data=b"p\0q")])
    m, _, got = echo(r)
    assert (m, got, r.redirects) == (method, body, 1)


# ---- per-request headers across threads ----

def test_per_request_headers_are_never_mixed_up_across_eight_threads(
        server):
    """1000 requests, 125 per thread, each with its own header value,
    Authorization and body, and 0 to 20 headers of its own (past the
    module's stack array of 16), on one client at once."""
    errors = []

    def work(t):
        try:
            reqs = []
            for i in range(PER_THREAD):
                h = {"X-Id": "%d-%d" % (t, i),
                     "Authorization": "Bearer %d.%d" % (t, i)}
                h.update(("X-Extra-%d" % k, "%d-%d-%d" % (t, i, k))
                         for k in range(i % 21))
                reqs.append(Request(server.url("/echo?t=%d&i=%d" % (t, i)),
                                    method=("PUT", "POST")[i % 2], headers=h,
                                    data=b"%d\0%d" % (t, i)))
            results = (c.fetch_all(reqs) if t % 2 else
                       sorted(c.fetch(iter(reqs)), key=lambda r: r.index))
            assert [r.index for r in results] == list(range(PER_THREAD))
            for i, r in enumerate(results):
                m, h, body = echo(r)
                mine = {k: v for k, v in h.items() if k.startswith("x-")}
                want = {"x-id": ["%d-%d" % (t, i)]}
                want.update(("x-extra-%d" % k, ["%d-%d-%d" % (t, i, k)])
                            for k in range(i % 21))
                assert mine == want, (t, i)
                assert h["authorization"] == ["Bearer %d.%d" % (t, i)]
                assert (m, body) == (("PUT", "POST")[i % 2],
                                     b"%d\0%d" % (t, i))
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    with uvfetch.Client(concurrency=20) as c:
        threads = [threading.Thread(target=work, args=(t,))
                   for t in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=100)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]


# ---- Requests mixed with URLs ----

def mixed(server):
    return [server.url("/echo?i=0"),
            Request(server.url("/echo?i=1"), method="PUT", data=b"1"),
            server.url("/echo?i=2").encode(),
            Request(server.url("/echo?i=3"), json={"i": 3}),
            "not a url", Request("neither a url", data=b"x")]


def check_mixed(results, server):
    assert [r.index for r in results] == list(range(6))
    assert [echo(r)[0] for r in results[:4]] == ["GET", "PUT", "GET", "POST"]
    assert [echo(r)[2] for r in results[:4]] == [b"", b"1", b"", b'{"i":3}']
    assert [r.url for r in results] == [
        server.url("/echo?i=%d" % i) for i in range(4)] + [
        "not a url", "neither a url"]
    assert [r.error for r in results[4:]] == ["invalid_url"] * 2


def test_requests_and_urls_mix_in_one_input(server, client):
    check_mixed(client.fetch_all(mixed(server)), server)
    check_mixed(sorted(client.fetch(iter(mixed(server))),
                       key=lambda r: r.index), server)
    check_mixed(uvfetch.fetch_all(mixed(server)), server)


def test_requests_and_urls_mix_in_the_async_forms(server, client):
    async def agen():
        for u in mixed(server):
            yield u
            await asyncio.sleep(0)

    async def main():
        a = await client.fetch_all_async(mixed(server))
        b = await client.fetch_all_async(agen())
        c = sorted([r async for r in client.fetch_async(agen())],
                   key=lambda r: r.index)
        return a, b, c
    for results in asyncio.run(main()):
        check_mixed(results, server)


def test_requests_past_a_deadline_get_results_with_their_urls(server):
    reqs = [Request(server.url("/delay/3000?i=%d" % i), method="PUT",
                    data=b"x") for i in range(30)]
    with uvfetch.Client(concurrency=2) as c:
        results = c.fetch_all(reqs, deadline=0.2)
    assert [r.url for r in results] == [q.url for q in reqs]
    assert {r.error for r in results} == {"deadline"}


# ---- response headers ----

def test_result_headers_are_case_insensitive_and_keep_repeats(server,
                                                              client):
    (r,) = client.fetch_all([server.url(
        "/response-headers?Set-Cookie=a%3D1&X-Mixed-Case=Yes"
        "&Set-Cookie=b%3D2%3B%20Path%3D%2F&X-Latin=caf%E9")])
    h = r.headers
    assert isinstance(h, Headers) and isinstance(h, collections.abc.Mapping)
    assert h["Content-Type"] == h["content-type"] == h["CONTENT-TYPE"] == \
        "text/plain"
    assert h.get_all("SET-COOKIE") == ["a=1", "b=2; Path=/"]
    assert h["set-cookie"] == "a=1, b=2; Path=/"
    assert h["x-mixed-case"] == "Yes" and "X-MIXED-CASE" in h
    assert h["x-latin"] == "café"  # not UTF-8: read as Latin-1
    assert h.get("nope") is None and h.get_all("nope") == [] and \
        "nope" not in h and 5 not in h
    with pytest.raises(KeyError):
        h["nope"]
    names = [n for n, _ in h.multi_items()]
    assert names.count("set-cookie") == 2 and len(h) == len(names) - 1
    assert list(h) == [n for i, n in enumerate(names) if n not in names[:i]]
    assert h == dict(h) and h == {k.upper(): v for k, v in h.items()}
    assert h != {"content-type": "text/plain"}
    assert r.headers is h  # made once


def test_headers_can_be_made_by_hand_and_compare_as_mappings():
    h = Headers([("Link", "<a>"), ("Vary", "x"), ("link", "<b>"),
                 ("LINK", "<c>")])
    assert h.get_all("link") == ["<a>", "<b>", "<c>"]
    assert h["Link"] == "<a>, <b>, <c>" and len(h) == 2
    assert h.multi_items() == [("link", "<a>"), ("vary", "x"),
                               ("link", "<b>"), ("link", "<c>")]
    assert Headers({"A": "1"}) == Headers([("a", "1")]) == {"a": "1"}
    assert Headers({"A": "1"}) != Headers([("a", "1"), ("a", "2")])
    assert pickle.loads(pickle.dumps(h)).multi_items() == h.multi_items()
    assert repr(Headers({"A": "1"})) == "Headers({'a': '1'})"
    with pytest.raises(TypeError, match="a header field is a"):
        Headers([("a", 1)])


def test_headers_are_the_final_responses_and_empty_without_a_reply(
        server, client, closed_port):
    ok, refused = client.fetch_all([
        server.url("/redirect/2"), "http://127.0.0.1:%d/" % closed_port])
    assert ok.redirects == 2 and "location" not in ok.headers
    assert ok.headers["content-type"]
    assert refused.error == "connect" and refused.headers == {}
    assert len(refused.headers) == 0


def test_keep_headers_false_gives_none_and_a_call_can_ask(server):
    url = server.url("/bytes/3")
    with uvfetch.Client(keep_headers=False) as c:
        (off,) = c.fetch_all([url])
        (on,) = c.fetch_all([url], keep_headers=True)
        missed = c.fetch_all([server.url("/delay/3000")] * 3,
                             concurrency=1, deadline=0.1)
    assert off.headers is None and on.headers["content-length"] == "3"
    assert [r.headers for r in missed] == [None] * 3
    with uvfetch.Client() as c:
        (default,) = c.fetch_all([url])
        (call_off,) = c.fetch_all([url], keep_headers=False)
    assert default.headers["content-length"] == "3"
    assert call_off.headers is None


def test_max_header_bytes_bounds_the_response_headers(server):
    url = server.url("/response-headers?X-Big=" + "x" * 3000)
    with uvfetch.Client(max_header_bytes=1000) as c:
        small, unbounded, big = (c.fetch_all([url])[0],
                                 c.fetch_all([url], max_header_bytes=0)[0],
                                 c.fetch_all([url],
                                             max_header_bytes=10000)[0])
    assert small.error == "protocol"
    assert unbounded.ok and big.ok and len(big.headers["x-big"]) == 3000
    with uvfetch.Client(max_header_bytes=None) as c:
        assert c.fetch_all([url])[0].ok


def test_headers_survive_pickling_and_many_readers(server, client):
    rs = client.fetch_all([server.url(
        "/response-headers?Set-Cookie=a&Set-Cookie=b&i=%d" % i)
        for i in range(20)])
    back = pickle.loads(pickle.dumps(rs[0]))
    assert back.headers.get_all("set-cookie") == ["a", "b"]
    assert back.headers.multi_items() == rs[0].headers.multi_items()
    # A pickle of a Result made before headers existed still loads.
    fn, state = rs[1].__reduce__()
    assert fn(*state[:-1]).headers is None
    seen, errors = [], []

    def read():
        try:
            seen.append([id(r.headers) for r in rs[1:]])
        except BaseException as e:
            errors.append(e)
    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == [] and len(seen) == 8
    assert all(s == seen[0] for s in seen)  # one mapping per result


def test_requests_and_results_give_their_memory_back(server, client):
    """What a Request and a Result hold (bodies, header lines, the kept
    response headers, the Headers mapping) is freed with them, as
    Python's allocator traces it (tracemalloc). The first runs fill
    CPython's free lists (tuples of header pairs, ...) with traced blocks:
    that levels off by the fifth; a leak of anything per request grows
    by more than 50 KB a run from there."""
    import gc
    import tracemalloc

    def run():
        reqs = (Request(server.url("/response-headers?Set-Cookie=a&i=%d" % i),
                        method="PUT", data=b"x" * 100,
                        headers={"X-%d" % k: "v" for k in range(i % 20)})
                for i in range(1000))
        for r in client.fetch(reqs):
            assert r.ok and r.body == b"ok\n"
            if r.index % 2:
                assert r.headers["set-cookie"] == "a"
        gc.collect()
        return tracemalloc.get_traced_memory()[0]
    run()
    tracemalloc.start()
    try:
        sizes = [run() for _ in range(9)]
    finally:
        tracemalloc.stop()
    assert sizes[8] - sizes[4] < 40000, "traced memory after each run: %s" % (
        sizes,)


# ---- retries by method ----

def test_a_post_is_retried_only_when_asked_or_idempotent(server):
    url = server.url(unique("/flaky/1"))
    with uvfetch.Client(retries=1, retry_delay=0.01) as c:
        posted = c.fetch_all([Request(url + "&a", data=b"x")])[0]
        asked = c.fetch_all([Request(url + "&b", data=b"x")],
                            retry_all_methods=True)[0]
        keyed = c.fetch_all([Request(url + "&c", data=b"x", headers={
            "Idempotency-Key": "k1"})])[0]
        put = c.fetch_all([Request(url + "&d", method="PUT", data=b"x")])[0]
    assert (posted.status, posted.attempts) == (503, 1)
    assert [(r.ok, r.attempts) for r in (asked, keyed, put)] == [(True, 2)] * 3
    with uvfetch.Client(retries=1, retry_delay=0.01,
                        retry_all_methods=True) as c:
        r = c.fetch_all([Request(url + "&e", method="PATCH", data=b"x")])[0]
        no = c.fetch_all([Request(url + "&f", data=b"x")],
                         retry_all_methods=False)[0]
    assert (r.ok, r.attempts) == (True, 2)
    assert (no.status, no.attempts) == (503, 1)


def test_none_in_a_call_keeps_the_clients_setting(server):
    with uvfetch.Client(retries=1, retry_delay=0.01) as c:
        (r,) = c.fetch_all([server.url(unique("/flaky/1"))], keep_body=None,
                           retries=None, keep_headers=None,
                           max_header_bytes=None, retry_all_methods=None)
    assert r.ok and r.attempts == 2 and r.body
    assert r.headers is not None


# ---- the Request object ----

def test_a_request_tells_what_it_sends_and_pickles(server, client):
    q = Request(server.url("/echo"), method="patch",
                headers={"X-A": "1", "X-Gone": None, "X-Empty": ""},
                data=b"\0")
    assert (q.url, q.method, q.body) == (server.url("/echo"), "PATCH", b"\0")
    assert q.headers == [("X-A", "1"), ("X-Gone", None), ("X-Empty", "")]
    assert repr(q) == "<uvfetch.Request PATCH %r>" % server.url("/echo")
    assert Request("http://h/").method == "GET" and Request(
        "http://h/", data=b"").method == "POST"
    purge = Request(server.url("/echo"), method="purge")  # as requests does
    assert purge.method == "PURGE" and echo(
        client.fetch_all([purge])[0])[0] == "PURGE"
    assert Request(b"http://h/").url == b"http://h/"
    j = Request(server.url("/echo"), json={"a": 1})
    back, jback = pickle.loads(pickle.dumps([q, j]))
    assert (back.url, back.method, back.headers, back.body) == (
        q.url, q.method, q.headers, q.body)
    m, h, body = echo(client.fetch_all([back])[0])
    assert (m, h["x-a"], body) == ("PATCH", ["1"], b"\0")
    _, h, body = echo(client.fetch_all([jback])[0])
    assert (h["content-type"], body) == (["application/json"], b'{"a":1}')
    with pytest.raises(AttributeError):
        q.method = "GET"


@pytest.mark.parametrize("args, kwargs, message", [
    (("http://h/",), {"method": "GE T"}, "method must be an HTTP token"),
    (("http://h/",), {"method": ""}, "method must be an HTTP token"),
    (("http://h/",), {"method": "GET\r\nX: y"}, "method must be an HTTP"),
    (("http://h/",), {"headers": {"X A": "1"}}, "must be an HTTP token"),
    (("http://h/",), {"headers": {"X": "a\r\nB: c"}}, "must not contain"),
    (("http://h/",), {"headers": {"": "a"}}, "must not be empty"),
    (("http://h/",), {"headers": ["no colon"]}, "must read 'Name: value'"),
    (("http://h/",), {"method": "head", "data": b"x"}, "HEAD request has no"),
    (("http://h/",), {"data": b"x", "json": 1}, "data= or json=, not both"),
    (("http://h/\0",), {}, "must not contain NUL"),
    (("http://h/",), {"json": float("nan")}, "Out of range float"),
])
def test_a_request_that_cannot_be_sent_raises_value_error(args, kwargs,
                                                           message):
    with pytest.raises(ValueError, match=message):
        Request(*args, **kwargs)


@pytest.mark.parametrize("args, kwargs, message", [
    ((5,), {}, "url must be a str or bytes, not int"),
    ((), {}, "missing required argument|takes at least"),
    (("http://h/", "POST"), {}, "positional argument"),
    (("http://h/",), {"method": b"GET"}, "method must be a str, not bytes"),
    (("http://h/",), {"data": 12}, "data must be bytes, a str, a dict"),
    (("http://h/",), {"data": object()}, "data must be bytes"),
    (("http://h/",), {"headers": "X: y"}, "headers must be a dict"),
    (("http://h/",), {"headers": {"X": 5}}, "header value must be a str"),
    (("http://h/",), {"json": object()}, "not JSON serializable"),
    (("http://h/",), {"body": b"x"}, "unexpected keyword|invalid keyword"),
])
def test_a_request_of_wrong_types_raises_type_error(args, kwargs, message):
    with pytest.raises(TypeError, match=message):
        Request(*args, **kwargs)


def test_a_tampered_pickle_of_a_request_is_checked_again():
    restore = uvfetch._uvfetch._request_restore
    with pytest.raises(ValueError, match="HTTP token"):
        restore("http://h/", "GE T", None, None, 0)
    with pytest.raises(TypeError, match="not the state of a Request"):
        restore("http://h/", None, (b"X: a\r\nY: b",), None, 0)
    with pytest.raises(TypeError, match="not the state of a Request"):
        restore("http://h/", None, None, "a str body", 0)


def test_invalid_request_is_a_kind_a_result_can_have(server, client):
    assert "invalid_request" in uvfetch.KINDS
    (r,) = client.fetch_all([server.url("/bytes/1")])
    fn, state = r.__reduce__()
    state = list(state)
    state[4:7] = ["invalid_request", -11, 0]
    assert fn(*state).error == "invalid_request"


def test_help_and_the_stub_tell_of_requests_and_headers():
    import pydoc
    text = pydoc.render_doc(uvfetch, renderer=pydoc.plaintext)
    for name in ("class Request", "class Headers", "get_all", "multi_items",
                 "keep_headers", "max_header_bytes", "retry_all_methods",
                 "json="):
        assert name in text, name
    stub = open(os.path.join(os.path.dirname(uvfetch.__file__),
                             "__init__.pyi")).read()
    for name in ("class Request", "class Headers", "def get_all",
                 "keep_headers: Optional[bool]", '"invalid_request"'):
        assert name in stub, name
