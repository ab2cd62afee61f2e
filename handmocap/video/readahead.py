"""Read-ahead: decode the next frames in a background thread while the caller works on the
current one (the detector, which releases the GIL, on the other core).

    with prefetch(open_frames("clip.mp4"), depth=4) as frames:
        for frame in frames:
            ...

At most `depth` frames wait in the queue (plus the one being decoded), so memory stays
flat however long the video is. Errors raised by the decoder (`InputError` for a video that
breaks off) reach the caller at the same place in the stream as without read-ahead: after
the frames that decoded. `close()` (also on leaving a `with` block, on garbage collection, or
when the caller stops iterating early and closes) stops the thread within one frame and
closes the source iterator, which ends its decoder process.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

DEFAULT_DEPTH = 4
_POLL_S = 0.05  # how often a blocked worker looks at the stop flag
_CLOSE_WAIT_S = 10.0


class _End:
    pass


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


def _put(q: queue.Queue, stop: threading.Event, item) -> bool:
    """Queue `item`, waiting while the queue is full; False once stopped."""
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _work(source: Iterator, q: queue.Queue, stop: threading.Event) -> None:
    try:
        for item in source:
            if not _put(q, stop, item):
                break
        else:
            _put(q, stop, _End())
    except BaseException as exc:  # handed to the consumer, raised there
        _put(q, stop, _Failed(exc))
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            try:
                close()  # a generator: runs its finally (kills the decoder process)
            except Exception:
                pass


class ReadAhead(Iterator[T]):
    """Iterator over `source`, filled `depth` items ahead by a daemon thread."""

    def __init__(self, source: Iterable[T], depth: int = DEFAULT_DEPTH, name: str = "handmocap-read-ahead"):
        if int(depth) != depth or depth < 1:
            raise ValueError(f"depth must be a positive integer, got {depth!r}")
        self._source = iter(source)
        self._queue: queue.Queue = queue.Queue(maxsize=int(depth))
        self._stop = threading.Event()
        self._done = False
        # the worker gets no reference to self, so that an abandoned ReadAhead is collected
        # (and its __del__ stops the worker)
        self._thread = threading.Thread(target=_work, args=(self._source, self._queue, self._stop), name=name,
                                        daemon=True)
        self._thread.start()

    def __iter__(self) -> "ReadAhead[T]":
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, _End):
            self._done = True
            self._thread.join()
            raise StopIteration
        if isinstance(item, _Failed):
            self._done = True
            self._thread.join()
            raise item.exc
        return item

    def close(self) -> None:
        """Stop reading ahead and close the source (idempotent; returns once the thread ended)."""
        self._done = True
        self._stop.set()
        while True:  # unblock a worker waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread is not threading.current_thread():
            # within one frame's decode; the bound only matters for a decoder stuck on I/O
            self._thread.join(timeout=_CLOSE_WAIT_S)

    @property
    def alive(self) -> bool:
        """True while the worker thread runs."""
        return self._thread.is_alive()

    def __enter__(self) -> "ReadAhead[T]":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self._stop.set()
        except Exception:
            pass


def prefetch(source: Iterable[T], depth: int = DEFAULT_DEPTH) -> ReadAhead[T]:
    """`source` read `depth` items ahead in a background thread (see the module docstring)."""
    return ReadAhead(source, depth)
