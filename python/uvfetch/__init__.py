"""Fetch hundreds to millions of URLs at once, on one event loop.

uvfetch runs libcurl's multi interface on a libuv event loop in a thread
of its own: a cap of N transfers in flight stands in for a pool of N
threads, the GIL is released while it works, and each result comes back
as a Result object, by input index or as it completes.

One call::

    import uvfetch
    results = uvfetch.fetch_all(urls, concurrency=400, deadline=2.0)
    for r in results:                      # input order
        print(r.index, r.status if r.ok else r.error)

A client that lives (connections, DNS and TLS state reused between
calls; any number of threads may use one client at once)::

    with uvfetch.Client(concurrency=50, timeout=30.0) as client:
        results = client.fetch_all(urls, deadline=2.0)
        for r in client.fetch(url_generator):    # as they complete
            store(r.index, r.body)
        results = await client.fetch_all_async(urls)       # asyncio
        async for r in client.fetch_async(urls): ...

A URL may be a Request, with its own method, headers and body, anywhere
a URL goes (plain URLs and Requests mix in one input); each result has
the response's headers, a case-insensitive mapping::

    reqs = [uvfetch.Request(api + "/items", json={"name": n},
                            headers={"Idempotency-Key": key(n)})
            for n in names]
    for r in client.fetch_all(reqs):
        print(r.status, r.headers.get("ETag"), r.json())

A failed fetch is a Result (r.ok is False, r.error names the kind:
"timeout", "dns", "connect", "http", ...), never an exception, unless
r.raise_for_error() is called. Wrong arguments raise TypeError or
ValueError. Ctrl-C cancels a blocking call and raises KeyboardInterrupt;
cancelling an asyncio task cancels its call.
"""
from ._headers import Headers
from ._uvfetch import (KINDS, MAX_CONCURRENCY, Fetch, FetchError, Request,
                       Result, _ClientBase, __version__, library_version)

__all__ = ["Client", "Request", "Result", "Headers", "Fetch", "AsyncFetch",
           "FetchError", "fetch_all", "fetch", "fetch_all_async", "KINDS",
           "MAX_CONCURRENCY", "__version__", "library_version"]

# Keywords that belong to a call rather than to a client.
_CALL_KEYWORDS = ("deadline", "keep_body")


class Client(_ClientBase):
    """Client(*, concurrency=50, per_host=0, timeout=30.0,
       connect_timeout=10.0, retries=0, headers=None, user_agent=None,
       verify=True, cafile=None, capath=None, http2=True, max_body=None,
       keep_body=True, follow_redirects=True, max_redirects=10,
       compressed=False, rate_per_host=None, retry_delay=0.5,
       retry_max_delay=30.0, keep_headers=True, max_header_bytes=65536,
       retry_all_methods=False)

    A long-lived fetcher: an event loop on a thread of its own that keeps
    connections, the DNS cache, TLS sessions and the CA store between
    calls. Any number of Python threads may call one client at once (a
    threaded web server's handlers, for instance). Close it, or use it in
    a with block; a Client cannot be used in a child process after fork().

    Settings (the defaults of each call; times in seconds):
      concurrency      transfers in flight at once per call (1 to
                       MAX_CONCURRENCY)
      per_host         at most this many per scheme+host+port; 0: no cap
      timeout          whole transfer; None: none
      connect_timeout  connection set-up; None: none
      retries          retries of connection errors, timeouts, resets,
                       HTTP 408, 429, 500, 502, 503, 504, with
                       exponential backoff and jitter from retry_delay up
                       to retry_max_delay (Retry-After is honoured); only
                       of GET, HEAD, PUT, DELETE, OPTIONS, TRACE and
                       requests with an Idempotency-Key header, unless
                       retry_all_methods=True (POST and PATCH too)
      headers          a dict, or a list of (name, value) pairs or
                       "Name: value" strings, sent with every request (a
                       Request's own of the same name replace them)
      user_agent       None: "uvfetch/<version>"
      verify           False: do not check TLS certificates; a path: the
                       CA file (as cafile=)
      cafile, capath   trusted CAs; None: the system's
      http2            True: HTTP/2 when the TLS server offers it; False:
                       HTTP/1.1 only; "prior": HTTP/2 without asking
      max_body         a larger body ends as "too_large"; None: no limit
      keep_body        False: bodies are counted (Result.bytes) but not
                       kept (Result.body is None)
      keep_headers     False: Result.headers is None (the response
                       headers are not collected)
      max_header_bytes response header bytes one attempt may receive
                       (redirects included); past it the result is
                       "protocol"; None or 0: libcurl's own limit only
      follow_redirects, max_redirects
      compressed       True: ask for gzip, deflate, ... and decode
      rate_per_host    requests started per second and host; None: no cap

    Per call, fetch_all() and fetch() take deadline, concurrency,
    per_host, timeout, keep_body, retries, keep_headers, max_header_bytes
    and retry_all_methods (None: the client's).

    Wherever a URL is taken, a Request may stand (a method, headers and
    a body of its own; see Request).
    """

    __slots__ = ()

    def fetch_async(self, urls, **call_options):
        """fetch_async(urls, *, deadline=None, concurrency=None, ...)

        The asyncio form of fetch(): an AsyncFetch, to use with
        ``async for r in client.fetch_async(urls)``; results in the order
        they complete. urls may be an iterable or an async iterable.
        Cancelling the task (or leaving the loop early and dropping the
        AsyncFetch, or aclose()) cancels the call. The event loop is never
        blocked: results are taken when the call's file descriptor is
        readable (loop.add_reader).
        """
        return AsyncFetch(self, urls, call_options, every=False)

    async def fetch_all_async(self, urls, **call_options):
        """fetch_all_async(urls, *, deadline=None, concurrency=None, ...)

        The asyncio form of fetch_all(): a list of Result in input order,
        one per URL. Cancelling the awaiting task cancels the call.
        """
        if hasattr(urls, "__aiter__"):  # one result per URL: read them all
            urls = [u async for u in urls]
        results = []
        async with AsyncFetch(self, urls, call_options, every=True) as it:
            async for r in it:
                i = r.index
                if i >= len(results):
                    results.extend([None] * (i + 1 - len(results)))
                results[i] = r
        return results


class AsyncFetch:
    """The results of Client.fetch_async(), in completion order.

    ``async for r in it`` takes them; ``await it.aclose()`` (or an
    ``async with`` block) cancels what is left. Made by fetch_async().
    """

    __slots__ = ("_fetch", "_source", "_feeder", "_room", "_error",
                 "_ready", "_pos", "__weakref__")

    def __init__(self, client, urls, call_options, every):
        self._source = self._feeder = self._room = self._error = None
        if hasattr(urls, "__aiter__"):  # a task feeds them (_feed)
            self._source = urls
            self._fetch = client._fetch_push(**call_options)
        else:  # read by the call itself as it has room
            start = client._fetch_every if every else client.fetch
            self._fetch = start(urls, **call_options)
        self._ready = []
        self._pos = 0

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._pos < len(self._ready):
            r = self._ready[self._pos]
            self._pos += 1
            return r
        self._ready, self._pos = [], 0
        try:
            if self._source is not None and self._feeder is None:
                self._start_feeder()
            while True:
                batch = self._fetch.poll()
                if self._room is not None:
                    self._room.set()
                if self._error is not None:
                    raise self._error
                if batch is None:
                    self._fetch.close()
                    raise StopAsyncIteration
                if batch:
                    self._ready, self._pos = batch, 1
                    return batch[0]
                if self._fetch._straggling:  # readable, but not yet
                    await _nap()
                else:
                    await _readable(self._fetch.fileno())
        except StopAsyncIteration:
            raise
        except BaseException:  # CancelledError too: cancel the call
            self._close()
            raise

    def _start_feeder(self):
        import asyncio
        self._room = asyncio.Event()
        self._feeder = asyncio.get_running_loop().create_task(self._feed())

    async def _feed(self):
        """Hands URLs from an async iterable to the call while it has
        room; waits for the reader to take results when it has none."""
        fetch = self._fetch
        try:
            async for url in self._source:
                while not fetch._put(url):
                    self._room.clear()
                    await self._room.wait()
                if not fetch._accepting:
                    break
        except BaseException as e:  # the reader raises it
            if not isinstance(e, Exception):
                raise
            self._error = e
            fetch.cancel()
        finally:
            fetch._end_input()

    def _close(self):
        self._fetch.close()
        if self._feeder is not None:
            self._feeder.cancel()

    async def aclose(self):
        """Cancels what is left of the call and lets it go."""
        self._close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self._close()
        return False

    def cancel(self):
        """Cancels the call: what is left ends as "aborted"."""
        self._fetch.cancel()


async def _readable(fd):
    """Waits until fd is readable, on the running asyncio loop."""
    import asyncio
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    loop.add_reader(fd, _wake, fut)
    try:
        await fut
    finally:
        loop.remove_reader(fd)


async def _nap():
    import asyncio
    await asyncio.sleep(0.001)


def _wake(fut):
    if not fut.done():
        fut.set_result(None)


def _split(options):
    call = {k: options.pop(k) for k in _CALL_KEYWORDS if k in options}
    return options, call


def fetch_all(urls, **options):
    """fetch_all(urls, *, deadline=None, concurrency=50, **client_options)

    Fetches every URL with a client of its own, closed on return: a list
    of Result in input order. Takes Client's keywords and deadline.
    """
    client_options, call = _split(options)
    with Client(**client_options) as client:
        return client.fetch_all(urls, **call)


def fetch(urls, **options):
    """fetch(urls, *, deadline=None, concurrency=50, **client_options)

    Client(**client_options).fetch(urls, deadline=...): results as they
    complete; the client goes when the iterator does.
    """
    client_options, call = _split(options)
    return Client(**client_options).fetch(urls, **call)


async def fetch_all_async(urls, **options):
    """fetch_all_async(urls, *, deadline=None, **client_options)

    The asyncio form of fetch_all(), with a client of its own.
    """
    client_options, call = _split(options)
    client = Client(**client_options)
    try:
        return await client.fetch_all_async(urls, **call)
    finally:
        client.close()
