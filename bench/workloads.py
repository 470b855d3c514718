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


class Workload:
    def __init__(self, name, urls, hosts, delay_ms, body, ns):
        self.name, self.urls, self.hosts = name, urls, hosts
        self.delay_ms, self.body, self.ns = delay_ms, body, ns

    def about(self):
        hosts = "" if self.hosts == 1 else \
            " over 127.0.0.1-127.0.0.%d" % self.hosts
        delay = "%d ms each" % self.delay_ms if self.delay_ms else "no delay"
        return "%d URLs%s, %s, %s" % (self.urls, hosts, delay,
                                      size_text(self.body))

    def ideal(self, n):
        """Wall seconds if N transfers overlap perfectly (0: no delay)."""
        return math.ceil(self.urls / min(n, self.urls)) * self.delay_ms / 1e3

    def url(self, port, i):
        """The i-th URL: distinct by i, hosts taken in turn."""
        host = "127.0.0.%d" % (i % self.hosts + 1)
        if self.delay_ms:
            return "http://%s:%d/delay/%d?bytes=%d&i=%d" % (
                host, port, self.delay_ms, self.body, i)
        return "http://%s:%d/bytes/%d?i=%d" % (host, port, self.body, i)


FULL = [
    Workload("latency", 400, 1, 1500, KIB, [50, 400]),
    Workload("five-hosts", 1000, 5, 200, 16 * KIB, [16, 100]),
    Workload("throughput", 20000, 1, 0, KIB, [100, 1000]),
    Workload("wide", 10000, 1, 2000, KIB, [10000]),
    Workload("bulk", 200, 1, 0, MIB, [16]),
]
QUICK = [
    Workload("latency", 40, 1, 50, KIB, [10, 40]),
    Workload("five-hosts", 50, 5, 50, 16 * KIB, [5, 25]),
    Workload("throughput", 400, 1, 0, KIB, [10, 50]),
    Workload("wide", 200, 1, 200, KIB, [200]),
    Workload("bulk", 20, 1, 0, MIB, [4]),
]


class Design:
    def __init__(self, key, label, binary=None, per_n=True):
        self.key, self.label = key, label
        self.binary = binary  # path in the build dir, for built designs
        self.per_n = per_n    # False: ignores N, run once per workload

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
]
BY_KEY = {d.key: d for d in DESIGNS}
REFERENCE = "uvfetch-lib"            # ratios are against this design
UVFETCH = ("uvfetch-lib", "uvfetch-cli")  # the designs targets apply to
