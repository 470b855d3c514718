"""What bench/run runs: the workloads and the designs compared on them."""
import math

KIB = 1024
MIB = 1024 * 1024
CURL_PARALLEL_MAX = 300  # the curl tool's hard cap on --parallel-max


def size_text(b):
    if b >= MIB and b % MIB == 0:
        return "%d MiB" % (b // MIB)
    if b >= KIB and b % KIB == 0:
        return "%d KiB" % (b // KIB)
    return "%d B" % b


PROTOS = ("http", "tls", "h2")
PROTO_TEXT = {"http": "plain HTTP/1.1", "tls": "HTTP/1.1 over TLS",
              "h2": "HTTP/2 over TLS"}


class Workload:
    """One row of the suite. proto: "http" (plain HTTP/1.1, the rows as
    they were), "tls" (HTTP/1.1 over TLS: the server offers no h2, clients
    are told HTTP/1.1 where they can be) or "h2" (HTTP/2 over TLS, by
    ALPN). streams: h2 rows only, the server's SETTINGS_MAX_CONCURRENT_STREAMS
    and uvfetch's max_streams. min_fds: the open-files limit the row needs,
    else it is skipped with a note."""

    def __init__(self, base, urls, hosts, delay_ms, body, ns, proto="http",
                 streams=None, min_fds=0):
        self.base, self.proto = base, proto
        self.name = base if proto == "http" else "%s-%s" % (base, proto)
        self.urls, self.hosts = urls, hosts
        self.delay_ms, self.body, self.ns = delay_ms, body, ns
        self.streams, self.min_fds = streams, min_fds

    @property
    def tls(self):
        return self.proto != "http"

    def about(self):
        hosts = "" if self.hosts == 1 else \
            " over 127.0.0.1-127.0.0.%d" % self.hosts
        delay = "%d ms each" % self.delay_ms if self.delay_ms else "no delay"
        s = "%d URLs%s, %s, %s" % (self.urls, hosts, delay,
                                   size_text(self.body))
        if self.proto == "tls":
            s += "; HTTP/1.1 over TLS"
        elif self.proto == "h2":
            s += "; HTTP/2 over TLS, %d streams a connection" % self.streams
        return s

    def ideal(self, n):
        """Wall seconds if N transfers overlap perfectly (0: no delay)."""
        return math.ceil(self.urls / min(n, self.urls)) * self.delay_ms / 1e3

    def url(self, port, i):
        """The i-th URL: distinct by i, hosts taken in turn; port is the
        TLS port on TLS rows."""
        host = "127.0.0.%d" % (i % self.hosts + 1)
        scheme = "https" if self.tls else "http"
        if self.delay_ms:
            return "%s://%s:%d/delay/%d?bytes=%d&i=%d" % (
                scheme, host, port, self.delay_ms, self.body, i)
        return "%s://%s:%d/bytes/%d?i=%d" % (scheme, host, port, self.body, i)


# HTTP/2 streams a connection on the h2 rows, for the server and uvfetch
# alike (uvfetch cannot read the server's limit in libcurl 7.88, so it is
# told the same number): 2,000 transfers to one host fit on 4 connections.
H2_STREAMS = 500


def tls_rows(base, urls, hosts, delay_ms, body, ns, streams=H2_STREAMS,
             min_fds=0):
    """The same workload over HTTP/1.1 with TLS and over h2."""
    return [Workload(base, urls, hosts, delay_ms, body, ns, proto,
                     streams if proto == "h2" else None, min_fds)
            for proto in ("tls", "h2")]


FULL = [
    Workload("latency", 400, 1, 1500, KIB, [50, 400]),
    Workload("five-hosts", 1000, 5, 200, 16 * KIB, [16, 100]),
    Workload("throughput", 20000, 1, 0, KIB, [100, 1000]),
    Workload("wide", 10000, 1, 2000, KIB, [10000]),
    Workload("bulk", 200, 1, 0, MIB, [16]),
] + tls_rows("latency", 400, 1, 1500, KIB, [400]) + \
    tls_rows("throughput", 20000, 1, 0, KIB, [100]) + \
    tls_rows("wide", 2000, 1, 1000, KIB, [2000]) + \
    tls_rows("wide10k", 10000, 1, 1000, KIB, [10000], min_fds=11000) + \
    tls_rows("five-hosts", 1000, 5, 200, 16 * KIB, [100])
QUICK = [
    Workload("latency", 40, 1, 50, KIB, [10, 40]),
    Workload("five-hosts", 50, 5, 50, 16 * KIB, [5, 25]),
    Workload("throughput", 400, 1, 0, KIB, [10, 50]),
    Workload("wide", 200, 1, 200, KIB, [200]),
    Workload("bulk", 20, 1, 0, MIB, [4]),
] + tls_rows("latency", 10, 1, 50, KIB, [10]) + \
    tls_rows("throughput", 30, 1, 0, KIB, [5]) + \
    tls_rows("wide", 12, 1, 100, KIB, [12], streams=3) + \
    tls_rows("five-hosts", 10, 5, 50, 16 * KIB, [5])
# (quick TLS rows are small because a libcurl easy handle, and the curl
# tool, parse the whole CA bundle for each connection: ~24 ms of CPU)


class Design:
    def __init__(self, key, label, binary=None, per_n=True):
        self.key, self.label = key, label
        self.binary = binary  # path in the build dir, for built designs
        self.per_n = per_n    # False: ignores N, run once per workload

    def not_run(self, wl):
        """Why this design is left out of workload wl, or None."""
        if self.key == "python" and wl.proto == "h2":
            return "no HTTP/2 in Python's standard library (urllib speaks " \
                "HTTP/1.1: its figures are on the -tls row)"
        if not wl.tls or self.key not in BLOCKING:
            return None
        if wl.urls > 5000 and wl.delay_ms:
            return "a CA store per connection (~24 ms of CPU to parse the " \
                "bundle and ~1 MiB each): %d at once would need ~%d GiB; " \
                "the %s rows show the trend" % (
                    wl.urls, wl.urls // 1000, "wide-" + wl.proto)
        if self.key == "threads" and not wl.delay_ms and wl.urls > 5000:
            return "a connection per URL, each parsing the CA bundle " \
                "(~24 ms of CPU): %d URLs would take ~%d minutes a run" % (
                    wl.urls, wl.urls * 0.024 // 60)
        return None

    def n_key(self, wl, n):
        """The N its results are filed under: all URLs if it ignores N."""
        return n if self.per_n else wl.urls

    def effective_n(self, wl, n):
        """Transfers it really has at once."""
        if not self.per_n:
            return wl.urls
        if self.key == "curl":
            return min(n, CURL_PARALLEL_MAX)
        return n


DESIGNS = [
    Design("threads", "thread per URL", "bench/bench-threads", per_n=False),
    Design("workers", "worker threads", "bench/bench-workers"),
    Design("procs", "worker processes", "bench/bench-procs"),
    Design("uvfetch-lib", "uvfetch (library)", "bench/bench-uvfetch-lib"),
    Design("uvfetch-cli", "uvfetch (CLI)", "src/cli/uvfetch"),
    Design("curl", "curl --parallel"),
    Design("python", "Python ThreadPoolExecutor"),
    Design("go", "Go net/http + semaphore"),  # built by bench/run
]
BLOCKING = ("threads", "workers", "procs")  # a libcurl easy handle each
BY_KEY = {d.key: d for d in DESIGNS}
REFERENCE = "uvfetch-lib"            # ratios are against this design
UVFETCH = ("uvfetch-lib", "uvfetch-cli")  # the designs targets apply to
GO = "go"  # the peer of the TLS targets
GO_BINARY = "bench/go-bench"  # in the build dir, from bench/go/main.go
