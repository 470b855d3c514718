"""Type stubs for uvfetch (the C extension _uvfetch and its Python layer)."""
import os
from typing import (Any, AsyncIterable, AsyncIterator, Iterable, Iterator,
                    List, Literal, Mapping, Optional, Tuple, Union)

__version__: str
library_version: str
MAX_CONCURRENCY: int
KINDS: Tuple[str, ...]

# Headers to send: a mapping, or (name, value) pairs or "Name: value" strs;
# in a Request a value of None removes the header.
HeadersIn = Union[Mapping[str, Optional[Union[str, bytes]]],
                  Iterable[Union[Tuple[str, Optional[Union[str, bytes]]],
                                 str]]]
Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
Kind = Literal["invalid_url", "dns", "connect", "tls", "timeout", "protocol",
               "too_large", "http", "aborted", "deadline", "invalid_request"]
Data = Union[bytes, bytearray, memoryview, str, Mapping[str, Any],
             Iterable[Tuple[str, Any]]]


class Request:
    """A URL with its own method, headers and body (read-only)."""
    def __init__(self, url: Union[str, bytes], *,
                 method: Optional[str] = None,
                 headers: Optional[HeadersIn] = None,
                 data: Optional[Data] = None, json: Any = None) -> None: ...
    @property
    def url(self) -> Union[str, bytes]: ...
    @property
    def method(self) -> str: ...
    @property
    def headers(self) -> List[Tuple[str, Optional[str]]]: ...
    @property
    def body(self) -> Optional[bytes]: ...


URL = Union[str, bytes, Request]


class Headers(Mapping[str, str]):
    """Response header fields; names case-insensitive, repeats kept."""
    def __init__(self, fields: Union[Mapping[str, str],
                                     Iterable[Tuple[str, str]]] = ...
                 ) -> None: ...
    def __getitem__(self, name: str) -> str: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def get_all(self, name: str) -> List[str]: ...
    def get_list(self, name: str) -> List[str]: ...
    def multi_items(self) -> List[Tuple[str, str]]: ...


class Result:
    """What happened to one URL (read-only)."""
    @property
    def index(self) -> int: ...
    @property
    def url(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def status(self) -> int: ...
    @property
    def error(self) -> Optional[Kind]: ...
    @property
    def message(self) -> str: ...
    @property
    def body(self) -> Optional[bytes]: ...
    @property
    def text(self) -> Optional[str]: ...
    @property
    def bytes(self) -> int: ...
    @property
    def attempts(self) -> int: ...
    @property
    def history(self) -> Tuple[str, ...]: ...
    @property
    def time_total(self) -> float: ...
    @property
    def time_connect(self) -> float: ...
    @property
    def time_ttfb(self) -> float: ...
    @property
    def time_queued(self) -> float: ...
    @property
    def final_url(self) -> Optional[str]: ...
    @property
    def http_version(self) -> Optional[str]: ...
    @property
    def redirects(self) -> int: ...
    @property
    def curl_code(self) -> int: ...
    @property
    def headers(self) -> Optional[Headers]: ...
    def json(self, **kwargs: Any) -> Any: ...
    def raise_for_error(self) -> "Result": ...


class FetchError(Exception):
    result: Result


class Fetch(Iterator[Result]):
    """Client.fetch(): results in completion order."""
    @property
    def submitted(self) -> int: ...
    def __iter__(self) -> "Fetch": ...
    def __next__(self) -> Result: ...
    def cancel(self) -> None: ...
    def close(self) -> None: ...
    def poll(self) -> Optional[List[Result]]: ...
    def fileno(self) -> int: ...
    def __enter__(self) -> "Fetch": ...
    def __exit__(self, *exc: Any) -> bool: ...


class AsyncFetch(AsyncIterator[Result]):
    """Client.fetch_async(): results in completion order."""
    def __aiter__(self) -> "AsyncFetch": ...
    async def __anext__(self) -> Result: ...
    async def aclose(self) -> None: ...
    def cancel(self) -> None: ...
    async def __aenter__(self) -> "AsyncFetch": ...
    async def __aexit__(self, *exc: Any) -> bool: ...


class _ClientBase:
    closed: bool
    concurrency: int


class Client(_ClientBase):
    def __init__(self, *, concurrency: int = 50, per_host: Optional[int] = 0,
                 timeout: Optional[float] = 30.0,
                 connect_timeout: Optional[float] = 10.0, retries: int = 0,
                 headers: Optional[HeadersIn] = None,
                 user_agent: Optional[str] = None,
                 verify: Union[bool, Path] = True,
                 cafile: Optional[Path] = None, capath: Optional[Path] = None,
                 http2: Union[bool, Literal["prior"]] = True,
                 max_body: Optional[int] = None, keep_body: bool = True,
                 follow_redirects: bool = True, max_redirects: int = 10,
                 compressed: bool = False,
                 rate_per_host: Optional[float] = None,
                 retry_delay: float = 0.5,
                 retry_max_delay: float = 30.0,
                 keep_headers: bool = True,
                 max_header_bytes: Optional[int] = 65536,
                 retry_all_methods: bool = False) -> None: ...
    def fetch_all(self, urls: Iterable[URL], *,
                  deadline: Optional[float] = None,
                  concurrency: Optional[int] = None,
                  per_host: Optional[int] = None,
                  timeout: Optional[float] = None,
                  keep_body: Optional[bool] = None,
                  retries: Optional[int] = None,
                  keep_headers: Optional[bool] = None,
                  max_header_bytes: Optional[int] = None,
                  retry_all_methods: Optional[bool] = None
                  ) -> List[Result]: ...
    def fetch(self, urls: Iterable[URL], *,
              deadline: Optional[float] = None,
              concurrency: Optional[int] = None,
              per_host: Optional[int] = None,
              timeout: Optional[float] = None,
              keep_body: Optional[bool] = None,
              retries: Optional[int] = None,
              keep_headers: Optional[bool] = None,
              max_header_bytes: Optional[int] = None,
              retry_all_methods: Optional[bool] = None) -> Fetch: ...
    async def fetch_all_async(
            self, urls: Union[Iterable[URL], AsyncIterable[URL]], *,
            deadline: Optional[float] = None,
            concurrency: Optional[int] = None,
            per_host: Optional[int] = None,
            timeout: Optional[float] = None,
            keep_body: Optional[bool] = None,
            retries: Optional[int] = None,
            keep_headers: Optional[bool] = None,
            max_header_bytes: Optional[int] = None,
            retry_all_methods: Optional[bool] = None) -> List[Result]: ...
    def fetch_async(self, urls: Union[Iterable[URL], AsyncIterable[URL]], *,
                    deadline: Optional[float] = None,
                    concurrency: Optional[int] = None,
                    per_host: Optional[int] = None,
                    timeout: Optional[float] = None,
                    keep_body: Optional[bool] = None,
                    retries: Optional[int] = None,
                    keep_headers: Optional[bool] = None,
                    max_header_bytes: Optional[int] = None,
                    retry_all_methods: Optional[bool] = None
                    ) -> AsyncFetch: ...
    def close(self) -> None: ...
    def cancel_all(self) -> None: ...
    def __enter__(self) -> "Client": ...
    def __exit__(self, *exc: Any) -> bool: ...


def fetch_all(urls: Iterable[URL], *, deadline: Optional[float] = None,
              **options: Any) -> List[Result]: ...
def fetch(urls: Iterable[URL], *, deadline: Optional[float] = None,
          **options: Any) -> Fetch: ...
async def fetch_all_async(urls: Union[Iterable[URL], AsyncIterable[URL]], *,
                          deadline: Optional[float] = None,
                          **options: Any) -> List[Result]: ...
