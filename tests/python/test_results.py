"""Results: one per URL, in input order, with their kinds, bodies and
timings; deadlines and caps as the server sees them."""
import pickle
import time

import pytest

import uvfetch


def test_fetch_all_returns_one_result_per_url_in_input_order(server, client):
    # The later URLs answer first: completion order is the reverse.
    urls = [server.url("/delay/%d?bytes=%d" % ((30 - i) * 4, i))
            for i in range(30)]
    results = client.fetch_all(urls)
    assert [r.index for r in results] == list(range(30))
    assert [r.url for r in results] == urls
    assert all(r.ok for r in results)
    assert [r.bytes for r in results] == list(range(30))


def test_a_success_fills_every_field(server, client):
    url = server.url("/bytes/5")
    (r,) = client.fetch_all([url])
    assert (r.index, r.url, r.ok, r.status, r.error) == (0, url, True, 200,
                                                         None)
    assert (r.message, r.body, r.bytes, r.text) == ("", b"abcde", 5, "abcde")
    assert (r.attempts, r.history, r.redirects) == (1, (), 0)
    assert (r.final_url, r.http_version, r.curl_code) == (url, "1.1", 0)
    assert 0 < r.time_total < 5
    assert 0 <= r.time_ttfb <= r.time_total


def test_failures_are_results_named_by_kind(server, closed_port):
    urls = ["not a url", "ftp://127.0.0.1/x",
            "http://127.0.0.1:%d/" % closed_port,
            server.url("/status/404"), server.url("/stall"),
            server.url("/bad/status-line"), server.url("/bytes/5000")]
    with uvfetch.Client(timeout=0.5, max_body=1000) as c:
        results = c.fetch_all(urls)
    kinds = [(r.error, r.status) for r in results]
    assert kinds == [("invalid_url", 0), ("invalid_url", 0), ("connect", 0),
                     ("http", 404), ("timeout", 200), ("protocol", 0),
                     ("too_large", 200)]
    assert not any(r.ok for r in results)
    assert all(r.message for r in results)


def test_binary_bodies_with_nul_bytes_arrive_whole(server, client):
    raw = server.get("/gzip-bomb")  # gzip bytes, not decoded: mostly NULs
    assert raw.count(b"\0") > 1000
    (r,) = client.fetch_all([server.url("/gzip-bomb")])
    assert r.body == raw
    assert r.bytes == len(raw)


def test_compressed_bodies_are_decoded(server):
    with uvfetch.Client(compressed=True) as c:
        (r,) = c.fetch_all([server.url("/gzip-bomb")])
    assert r.ok
    assert len(r.body) == r.bytes == 8 << 20
    assert r.body.count(b"\0") == r.bytes


def test_keep_body_false_counts_bytes_without_keeping_them(server, client):
    (r,) = client.fetch_all([server.url("/bytes/300")], keep_body=False)
    assert r.ok and r.bytes == 300
    assert r.body is None and r.text is None


def test_deadline_ends_what_is_left_on_time(server):
    urls = [server.url("/delay/1?i=0")] + [
        server.url("/delay/5000?i=%d" % i) for i in range(1, 6)]
    with uvfetch.Client(concurrency=10) as c:
        t0 = time.monotonic()
        results = c.fetch_all(urls, deadline=0.3)
        took = time.monotonic() - t0
    assert 0.28 <= took <= 1.0
    assert results[0].ok
    assert [r.error for r in results[1:]] == ["deadline"] * 5
    assert all(r.message for r in results[1:])


def test_deadline_gives_urls_never_submitted_a_result_too(server):
    # N=2 lets 4 URLs in before the call stops reading the input. Again
    # and again: a URL handed over just as the deadline strikes must say
    # "deadline" too, and must not be lost.
    urls = [server.url("/delay/5000?i=%d" % i) for i in range(50)]
    with uvfetch.Client(concurrency=2) as c:
        for _ in range(20):
            results = c.fetch_all(iter(urls), deadline=0.05)
            assert [r.url for r in results] == urls
            assert [r.index for r in results] == list(range(50))
            assert {r.error for r in results} == {"deadline"}


def test_concurrency_caps_transfers_at_the_server(server):
    server.reset()
    with uvfetch.Client(concurrency=7) as c:
        results = c.fetch_all(server.url("/delay/40?i=%d" % i)
                              for i in range(60))
    assert all(r.ok for r in results)
    assert server.stats()["peak_in_flight"] == 7


def test_per_call_concurrency_overrides_the_clients(server):
    server.reset()
    with uvfetch.Client(concurrency=50) as c:
        results = c.fetch_all([server.url("/delay/40?i=%d" % i)
                               for i in range(30)], concurrency=3)
    assert all(r.ok for r in results)
    assert server.stats()["peak_in_flight"] == 3


def test_per_host_cap_holds_for_each_host(two_hosts):
    two_hosts.reset()
    urls = [two_hosts.url("/delay/40?i=%d" % i, "127.0.0.%d" % (i % 2 + 1))
            for i in range(60)]
    with uvfetch.Client(concurrency=20, per_host=3) as c:
        results = c.fetch_all(urls)
    assert all(r.ok for r in results)
    assert two_hosts.stats()["peak_in_flight_by_addr"] == {
        "127.0.0.1": 3, "127.0.0.2": 3}


def test_redirects_are_followed_to_the_final_url(server, client):
    (r,) = client.fetch_all([server.url("/redirect/3?x=1")])
    assert r.ok and r.redirects == 3 and r.body == b"done\n"
    assert r.final_url == server.url("/redirect/0?x=1")


def test_headers_and_user_agent_are_sent(server):
    with uvfetch.Client(headers={"Accept": "application/json",
                                 "X-Token": "t1"},
                        user_agent="tester/1") as c:
        (r,) = c.fetch_all([server.url("/headers")])
    sent = r.text.lower()
    assert "accept: application/json" in sent
    assert "x-token: t1" in sent
    assert "user-agent: tester/1" in sent


def test_json_parses_the_body(server, client):
    (r,) = client.fetch_all([server.url("/stats")])
    assert r.json()["requests"] >= 0


def test_raise_for_error_raises_with_the_result(server, client):
    ok, bad = client.fetch_all([server.url("/bytes/2"),
                                server.url("/status/503")])
    assert ok.raise_for_error() is ok
    with pytest.raises(uvfetch.FetchError, match="http 503") as e:
        bad.raise_for_error()
    assert e.value.result is bad


def test_results_pickle_whole(server, client):
    r = client.fetch_all([server.url("/redirect/1")])[0]
    back = pickle.loads(pickle.dumps(r))
    fields = ("index", "url", "ok", "status", "error", "message", "body",
              "bytes", "attempts", "history", "time_total", "final_url",
              "http_version", "redirects")
    assert [getattr(back, f) for f in fields] == \
        [getattr(r, f) for f in fields]


def test_retries_are_counted_with_their_history(server):
    with uvfetch.Client(retries=3, retry_delay=0.01) as c:
        (r,) = c.fetch_all([server.url("/flaky/2?t=%f" % time.time())])
    assert r.ok and r.attempts == 3
    assert r.history == ("http 503", "http 503")


def test_one_shot_functions_bring_a_client_of_their_own(server):
    urls = [server.url("/bytes/%d" % i) for i in range(5)]
    assert [r.bytes for r in uvfetch.fetch_all(urls, concurrency=2,
                                                deadline=5.0)] == [0, 1, 2,
                                                                   3, 4]
    got = sorted(r.bytes for r in uvfetch.fetch(iter(urls), per_host=1))
    assert got == [0, 1, 2, 3, 4]
