"""Handing the heap memory a big transient build freed back to the operating system."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)


def trim() -> bool:
    """Ask glibc to return freed heap pages (malloc_trim); False where there is no glibc.

    Building the author index of a million papers allocates about 70 MB that it frees
    again; glibc keeps most of it in the process unless asked, so a service held it as
    resident memory for good.
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):  # musl has no malloc_trim
        log.debug("malloc_trim is not available here", exc_info=True)
        return False
