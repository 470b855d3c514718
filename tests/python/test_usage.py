"""Usage errors raise TypeError or ValueError with a message that says
what is wrong; the package documents itself."""
import os
import pydoc
import time

import pytest

import uvfetch


@pytest.mark.parametrize("kwargs, message", [
    ({"concurrency": 0}, "concurrency must be from 1 to 1000000"),
    ({"concurrency": 2000000}, "concurrency must be from 1 to 1000000"),
    ({"per_host": -1}, "per_host must be from 0"),
    ({"timeout": -1}, "timeout must be more than 0 seconds"),
    ({"timeout": 0}, "timeout must be more than 0 seconds"),
    ({"http2": "yes"}, "http2 must be True"),
    ({"headers": {"X-A": "1\r\nX-B: 2"}}, "must not contain"),
    ({"headers": {"Bad:Name": "1"}}, "must not contain"),
    ({"headers": ["no colon"]}, "must read 'Name: value'"),
    ({"rate_per_host": 0}, "rate_per_host must be from 0.001"),
    ({"max_body": -5}, "max_body must be from 0"),
    ({"verify": "/ca.pem", "cafile": "/other.pem"}, "not both"),
])
def test_bad_client_settings_raise_value_error_saying_why(kwargs, message):
    with pytest.raises(ValueError, match=message):
        uvfetch.Client(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"concurrency": "5"}, "concurrency must be an int, not str"),
    ({"concurrency": True}, "concurrency must be an int, not bool"),
    ({"timeout": "30"}, "timeout must be a number of seconds or None"),
    ({"headers": "Accept: x"}, "headers must be a dict"),
    ({"headers": [1]}, "a header must be a"),
    ({"user_agent": 5}, "user_agent must be a str"),
    ({"nonsense": 1}, "unexpected keyword|invalid keyword"),
])
def test_wrong_types_raise_type_error_saying_why(kwargs, message):
    with pytest.raises(TypeError, match=message):
        uvfetch.Client(**kwargs)


def test_a_single_url_string_is_refused_as_the_input(client):
    with pytest.raises(TypeError, match="not a single URL"):
        client.fetch_all("http://127.0.0.1/")


def test_urls_of_the_wrong_type_raise_type_error(client):
    with pytest.raises(TypeError, match="a URL must be a str, bytes or a "
                                        "uvfetch.Request, not int"):
        client.fetch_all(["http://127.0.0.1:1/", 5])
    with pytest.raises(TypeError, match="not iterable"):
        client.fetch_all(5)


def test_a_url_with_nul_raises_value_error(client):
    with pytest.raises(ValueError, match="must not contain NUL"):
        client.fetch_all(["http://127.0.0.1/a\0b"])


@pytest.mark.parametrize("kwargs, error, message", [
    ({"deadline": 0}, ValueError, "deadline must be more than 0 seconds"),
    ({"deadline": -1.5}, ValueError, "deadline must be more than 0"),
    ({"concurrency": 0}, ValueError, "concurrency must be from 1"),
    ({"timeout": "x"}, TypeError, "timeout must be a number"),
    ({"headers": {}}, TypeError, "unexpected keyword|invalid keyword"),
])
def test_bad_call_settings_raise_saying_why(client, kwargs, error, message):
    with pytest.raises(error, match=message):
        client.fetch_all([], **kwargs)


def test_a_closed_client_refuses_calls_with_value_error():
    c = uvfetch.Client()
    c.close()
    c.close()  # again: nothing happens
    assert c.closed
    with pytest.raises(ValueError, match="the client is closed"):
        c.fetch_all([])
    with pytest.raises(ValueError, match="the client is closed"):
        c.fetch([])


def test_an_empty_input_gives_no_results(client):
    assert client.fetch_all([]) == []
    assert list(client.fetch(iter(()))) == []


def test_bytes_urls_are_accepted_and_given_back_as_str(server, client):
    (r,) = client.fetch_all([server.url("/bytes/1").encode()])
    assert r.ok and r.url == server.url("/bytes/1")


def test_results_cannot_be_made_or_changed_by_hand(server, client):
    with pytest.raises(TypeError):
        uvfetch.Result()
    (r,) = client.fetch_all([server.url("/bytes/1")])
    with pytest.raises(AttributeError):
        r.status = 500
    with pytest.raises(AttributeError):
        r.extra = 1


def test_version_and_help_are_there():
    assert uvfetch.__version__ == uvfetch.library_version
    assert uvfetch.__version__.count(".") == 2
    text = pydoc.render_doc(uvfetch, renderer=pydoc.plaintext)
    for name in ("fetch_all", "class Client", "fetch_async", "class Result",
                 "raise_for_error", "deadline", "KeyboardInterrupt"):
        assert name in text, name
    stub = os.path.join(os.path.dirname(uvfetch.__file__), "__init__.pyi")
    assert "def fetch_all" in open(stub).read()


def test_a_forked_child_gets_runtime_error_and_exits_clean(server):
    c = uvfetch.Client()
    assert c.fetch_all([server.url("/bytes/1")])[0].ok
    pid = os.fork()
    if pid == 0:  # the child: the client's loop thread stayed behind
        code = 3
        try:
            c.fetch_all([server.url("/bytes/1")])
        except RuntimeError as e:
            code = 0 if "fork" in str(e) else 4
        del c  # must not wait for a thread that is not there
        os._exit(code)
    for _ in range(1000):  # 10 s at most
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError("the forked child hung")
    assert os.waitstatus_to_exitcode(status) == 0
    assert c.fetch_all([server.url("/bytes/1")])[0].ok  # the parent's works
    c.close()
