"""Many short strings held as one ``bytes`` and their ends: no Python object per string until one is read."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from typing import Any, overload


class PackedStrings(Sequence[str]):
    """Many short strings held as one ``bytes`` and their ends, read back one at a time."""

    __slots__ = ("_data", "_ends")

    def __init__(self, items: Iterable[str]) -> None:
        data = bytearray()
        ends = array("I")
        for item in items:
            data += item.encode()
            ends.append(len(data))
        self._data, self._ends = data, ends  # kept as built: a bytes copy would double it for a moment

    @classmethod
    def from_parts(cls, data: Any, ends: Any) -> PackedStrings:
        """Strings over ``data`` (anything that slices to bytes) ending at ``ends`` (anything indexed to ints)."""
        packed = cls.__new__(cls)
        packed._data, packed._ends = data, ends
        return packed

    def parts(self) -> tuple[Any, Any]:
        """The bytes and the ends, as ``from_parts`` takes them."""
        return self._data, self._ends

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self._ends)
        return self._data[self._ends[i - 1] if i else 0:self._ends[i]].decode()
