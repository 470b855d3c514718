"""The web handler of S1: a Flask app whose handler gathers 40 slow API
answers before its own deadline, on one client shared by the threads of
a threaded server, hit by concurrent requests."""
import json
import random
import threading

import pytest

import uvfetch

flask = pytest.importorskip("flask")
from werkzeug.serving import make_server  # noqa: E402 (flask brings it)

DEADLINE = 1.0
FAST, SLOW = 36, 4  # per request: answers in 20-200 ms, and in 3 s


def make_app(api, client):
    app = flask.Flask(__name__)

    @app.route("/gather/<int:req>")
    def gather(req):
        rnd = random.Random(req)
        urls = [api.url("/delay/%d?bytes=%d&r=%d&i=%d" % (
            rnd.randrange(20, 200), i, req, i)) for i in range(FAST)]
        urls += [api.url("/delay/3000?r=%d&i=%d" % (req, i))
                 for i in range(SLOW)]
        results = client.fetch_all(urls, deadline=DEADLINE)
        return flask.jsonify(req=req, answers=[
            [r.index, r.ok, r.error, r.bytes] for r in results])
    return app


@pytest.fixture
def web(server):
    with uvfetch.Client(concurrency=400, timeout=5.0) as client:
        httpd = make_server("127.0.0.1", 0, make_app(server, client),
                            threaded=True)
        t = threading.Thread(target=httpd.serve_forever)
        t.start()
        try:
            yield "http://127.0.0.1:%d" % httpd.server_port
        finally:
            httpd.shutdown()
            t.join(timeout=10)
            httpd.server_close()


def test_each_response_is_complete_and_on_time(web):
    for round_ in range(2):
        reqs = range(round_ * 16, round_ * 16 + 16)
        responses = uvfetch.fetch_all(["%s/gather/%d" % (web, k)
                                       for k in reqs], concurrency=16,
                                      timeout=10.0)
        for k, resp in zip(reqs, responses):
            assert resp.ok, (resp.error, resp.message)
            body = json.loads(resp.body)
            assert body["req"] == k
            answers = body["answers"]
            assert [a[0] for a in answers] == list(range(FAST + SLOW))
            assert all(a[1] and a[3] == a[0] for a in answers[:FAST])
            assert [a[2] for a in answers[FAST:]] == ["deadline"] * SLOW
            # The handler answers at its deadline, never long after it.
            assert DEADLINE <= resp.time_total <= DEADLINE + 0.75
