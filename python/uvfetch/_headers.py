"""Headers: a response's header fields, as Result.headers gives them."""
from collections.abc import Mapping

__all__ = ["Headers"]


class Headers(Mapping):
    """Header fields: a read-only mapping whose names are case-insensitive.

    ``h["Content-Type"]``, ``h.get("etag")``, ``"ETag" in h``. Names are
    kept lower-cased, in the order they first came. A field that came
    more than once (Set-Cookie, Link, Vary, ...) reads as its values joined
    by ", ", as requests and httpx give it; ``get_all(name)`` gives its
    values as a list and ``multi_items()`` every (name, value) pair in
    the order received. Headers compares equal to a mapping with the same
    fields, whatever the case of its names.

    ``Headers({"A": "1"})`` or ``Headers([("set-cookie", "a=1"),
    ("set-cookie", "b=2")])`` makes one by hand.
    """

    __slots__ = ("_items", "_map")

    def __init__(self, fields=()):
        if isinstance(fields, Mapping):
            fields = fields.items()
        items = []
        for name, value in fields:
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError("a header field is a (str, str) pair, not "
                                "(%s, %s)" % (type(name).__name__,
                                              type(value).__name__))
            items += (name.lower(), value)
        self._set(tuple(items))

    @classmethod
    def _from_flat(cls, flat):
        """From the library's fields: a tuple of lower-cased name, value,
        name, value..."""
        h = cls.__new__(cls)
        h._set(flat)
        return h

    def _set(self, flat):
        # Few objects the garbage collector tracks, as it would scan every
        # kept Result's: the fields as one flat tuple of str, and a dict
        # of name -> its value, or a list of its values when it came more
        # than once (a dict of str alone is not tracked).
        m = {}
        it = iter(flat)
        for name, value in zip(it, it):
            v = m.get(name)
            if v is None:
                m[name] = value
            elif type(v) is list:
                v.append(value)
            else:
                m[name] = [v, value]
        self._items = flat
        self._map = m

    def __getitem__(self, name):
        v = self._map.get(name.lower()) if isinstance(name, str) else None
        if v is None:
            raise KeyError(name)
        return v if type(v) is str else ", ".join(v)

    def __contains__(self, name):
        return isinstance(name, str) and name.lower() in self._map

    def __iter__(self):
        return iter(self._map)

    def __len__(self):
        return len(self._map)

    def get_all(self, name):
        """Every value of the field name, in the order received: a list,
        empty if there is none (as email's get_all, httpx's get_list)."""
        v = self._map.get(name.lower()) if isinstance(name, str) else None
        if v is None:
            return []
        return [v] if type(v) is str else list(v)

    get_list = get_all

    def multi_items(self):
        """Every field as a (name, value) pair, in the order received,
        a repeated name once per line."""
        it = iter(self._items)
        return list(zip(it, it))

    def __eq__(self, other):
        if isinstance(other, Headers):
            return self._map == other._map
        if isinstance(other, Mapping):
            try:
                return dict(self.items()) == {k.lower(): v
                                              for k, v in other.items()}
            except AttributeError:  # a name that is not a str
                return False
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        if len(self._items) == 2 * len(self._map):
            return "Headers(%r)" % dict(self.multi_items())
        return "Headers(%r)" % self.multi_items()

    def __reduce__(self):
        return (Headers, (self.multi_items(),))
