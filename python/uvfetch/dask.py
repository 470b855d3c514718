"""Many machines through Dask distributed: the URLs are split into shards
by origin, as ``uvfetch --shard I/N`` splits them, each shard is fetched
by uvfetch.fetch_all() in a Dask worker process (one event loop each),
and the results come back as one list in input order::

    from dask.distributed import Client
    import uvfetch.dask

    with Client("scheduler:8786") as client:
        results = uvfetch.dask.fetch_all(client, urls, shards=16,
                                         concurrency=500, per_host=4)
    for r in results:                 # input order; r.index is global
        print(r.index, r.status if r.ok else r.error)

Every URL of one origin (scheme, host and port) is in one shard, so
per_host and rate_per_host hold across the cluster as in one process;
by="url" spreads the URLs of one host instead (each shard then has its
own cap). Importing this module does not import Dask: the client is
whatever you made.
"""
import os
from urllib.parse import urlsplit

__all__ = ["fetch_all", "shard_of", "route_hash"]

_FNV_OFFSET = 0xcbf29ce484222325
_FNV_PRIME = 0x100000001b3
_MASK = (1 << 64) - 1


def _fnv(data, h=_FNV_OFFSET):
    for b in data:
        h = ((h ^ b) * _FNV_PRIME) & _MASK
    return h


def _mix(z):
    """SplitMix64's finalizer, as src/cli/route.c."""
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & _MASK
    return z ^ (z >> 31)


def _authority(url):
    """scheme://host:port of url, lower case, as the command reads it."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        return None
    authority = rest
    for stop in "/?#":
        authority = authority.split(stop, 1)[0]
    authority = authority.rpartition("@")[2]
    if authority.startswith("["):
        close = authority.find("]")
        host_end = close + 1 if close >= 0 else len(authority)
    else:
        host_end = 0
    colon = authority.find(":", host_end)
    host = authority if colon < 0 else authority[:colon]
    port = "" if colon < 0 else authority[colon + 1:]
    if not port:
        port = "443" if scheme.lower() == "https" else "80"
    return ("%s://%s:%s" % (scheme, host, port)).lower()


def route_hash(url, by="host"):
    """The 64-bit hash uvfetch routes a URL by (uvfetch(1), --shard)."""
    origin = _authority(url) if by == "host" else None
    if origin is None:
        return _fnv(url.encode("utf-8", "surrogateescape"))
    return _fnv(origin.encode("utf-8", "surrogateescape"))


def shard_of(url, shards, by="host"):
    """The shard of url (a str or a uvfetch.Request, routed by its URL)
    among shards, as ``uvfetch --shard I/N`` has it."""
    url = getattr(url, "url", url)
    if isinstance(url, bytes):  # as fetch_all takes it: hashed as given
        url = os.fsdecode(url)
    return (_mix(route_hash(url, by)) & 0xffffffff) % shards


def _fetch_shard(indexes, urls, options):
    """In a Dask worker: one shard, with the results' global indexes."""
    import uvfetch
    out = []
    for i, r in zip(indexes, uvfetch.fetch_all(urls, **options)):
        rebuild, state = r.__reduce__()
        out.append(rebuild(*((i,) + tuple(state[1:]))))
    return out


def fetch_all(client, urls, shards=None, by="host", **options):
    """fetch_all(client, urls, shards=None, by="host", **fetch_options)

    Fetches urls (str or uvfetch.Request, as fetch_all() takes) on the
    Dask cluster of client (a distributed.Client): a list of Result in
    input order, one per URL, each with its index in urls. shards: how many tasks (default: one per worker of the
    cluster); by: "host" (default) or "url", as --shard-by. The other
    keywords are uvfetch.fetch_all()'s (concurrency, per_host, timeout,
    retries, deadline, ...) and hold per shard. A shard whose worker dies
    is run again by Dask; an exception in one is raised here.
    """
    if by not in ("host", "url"):
        raise ValueError("by must be 'host' or 'url'")
    urls = list(urls)
    if shards is None:
        shards = max(1, len(client.scheduler_info().get("workers", {})))
    if not isinstance(shards, int) or shards < 1:
        raise ValueError("shards must be a positive int")
    groups = [[] for _ in range(shards)]
    for i, u in enumerate(urls):
        groups[shard_of(u, shards, by)].append(i)
    futures = [client.submit(_fetch_shard, g, [urls[i] for i in g], options,
                             pure=False)
               for g in groups if g]
    results = [None] * len(urls)
    for f in futures:
        for r in f.result():
            results[r.index] = r
    return results
