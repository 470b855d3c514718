"""The Dask recipe: uvfetch.dask.fetch_all() on a LocalCluster of worker
processes (Debian's python3-distributed), and its routing, which must be
the command's (--shard I/N) so that shards made in Python and by the
command are the same."""
import base64
import os
import subprocess

import pytest

import uvfetch
import uvfetch.dask

from conftest import Server

HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]


@pytest.fixture(scope="module")
def hosts():
    s = Server(bind=",".join(HOSTS))
    yield s
    s.stop()


def some_urls(s, n):
    urls = [s.url("/bytes/%d?i=%d" % (i % 50, i), HOSTS[i % 4])
            for i in range(n)]
    urls[7] = s.url("/status/404?i=7", HOSTS[3])
    urls[9] = "not a url"
    return urls


def echoed_body(r):
    assert r.ok, (r.error, r.message)
    e = r.json()
    return e["method"], base64.b64decode(e["body_base64"])


def test_fetch_all_on_a_local_cluster_gives_results_in_input_order(hosts):
    from distributed import Client, LocalCluster
    urls = some_urls(hosts, 400)
    urls[11] = uvfetch.Request(hosts.url("/echo?i=11", HOSTS[3]),
                               method="PUT", data=b"a\0b")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, \
            Client(cluster) as client:
        pids = set(client.run(os.getpid).values())
        assert len(pids) == 2 and os.getpid() not in pids
        results = uvfetch.dask.fetch_all(client, urls, shards=3,
                                         concurrency=20, per_host=4)
    assert [r.index for r in results] == list(range(len(urls)))
    assert [r.url for r in results] == [getattr(u, "url", u) for u in urls]
    alone = uvfetch.fetch_all(urls, concurrency=20)
    assert [(r.ok, r.status, r.error, r.body) for r in results] == \
        [(r.ok, r.status, r.error, r.body) for r in alone]
    assert results[7].status == 404 and results[9].error == "invalid_url"
    assert echoed_body(results[11]) == ("PUT", b"a\0b")
    assert results[11].headers["content-type"] == "application/json"


def test_shards_are_those_of_the_command(hosts):
    """Every URL in the shard that `uvfetch --shard I/N` fetches it in,
    by host and by url."""
    exe = os.environ.get("UVFETCH")
    if not exe:
        pytest.skip("the command is not built (UVFETCH)")
    urls = some_urls(hosts, 200) + ["HTTPS://Example.COM/a",
                                    "https://example.com:443/b",
                                    "http://u:p@[::1]:8080/c"]
    for by in ("host", "url"):
        for n in (2, 3):
            for i in range(n):
                p = subprocess.run(
                    [exe, "-q", "--order", "done", "--shard-by", by,
                     "--shard", "%d/%d" % (i, n), "--timeout", "5",
                     "--connect-timeout", "1", "-i", "-"],
                    input="".join(u + "\n" for u in urls).encode(),
                    capture_output=True, timeout=60)
                got = {int(line.split(b",", 1)[0][len(b'{"index":'):])
                       for line in p.stdout.splitlines()}
                want = {k for k, u in enumerate(urls)
                        if uvfetch.dask.shard_of(u, n, by) == i}
                assert got == want, (by, n, i)


def test_one_origin_is_one_shard():
    shard = uvfetch.dask.shard_of
    assert shard("HTTP://Host.example/a", 7) == \
        shard("http://host.example:80/b?q", 7)
    assert shard("https://user@host.example/", 7) == \
        shard("https://host.example:443/x", 7)
    with pytest.raises(ValueError):
        uvfetch.dask.fetch_all(None, [], by="path")


def test_bytes_urls_and_requests_route_as_their_text():
    """fetch_all takes bytes URLs and Requests: they go to the shard of
    the same URL as text."""
    for url in ["http://127.0.0.%d:8080/a?i=%d" % (1 + i % 4, i)
                for i in range(40)] + ["http://h\u00e9.example/\udcff"]:
        raw = os.fsencode(url)
        want = uvfetch.dask.shard_of(url, 7)
        assert uvfetch.dask.shard_of(raw, 7) == want
        assert uvfetch.dask.shard_of(uvfetch.Request(raw), 7) == want
