"""Load shedding on the hot endpoints: a burst beyond what the machine can serve is answered,
within a bounded wait, with 503 and `Retry-After` in the API's one error shape, instead of
queueing until every client times out (Xi'an's health-code service fell over at ten times its
usual peak).

An endpoint opts in with one decorator on its view (a plain Django view, or a Ninja operation
under the router's decorator):

    CHECKS = Gate("codes.check")

    @router.get("/check/{token}", ...)
    @shed(CHECKS)
    def check(request, token: ...): ...

A gate lets at most `SHEDDING_IN_FLIGHT` requests of its endpoints run at once in each server
process; any other waits for a slot, first come first served, at most `SHEDDING_WAIT_MS`, and is
refused if none frees. Refused only after that wait, on purpose: a waiting thread costs nothing
(it is blocked, without the GIL), and a client that resends the moment it is refused is held
back. Refused at once, such clients turned a burst into a storm of refusals whose Python starved
the admitted requests of the GIL (bench/backpressure.py: 30 scans a second served instead of
400). A refused request runs nothing of the view: no token resolved, no body parsed, nothing
written. Each process counts what its gates admitted and refused (`Gate.counts`) and logs one
warning line, at most every `_REPORT_EVERY` seconds, while it refuses.

Why a gate in the application and not the server's own limit: granian's `--backpressure` caps
the *connections* a worker holds (a semaphore taken before `accept` and released when the
connection closes), never answers 503, and leaves the next connections unserved in the kernel's
backlog while the first ones stay open (keep-alive): they time out. Requests granian has taken
wait for a blocking thread in a queue of its own, unbounded and invisible to Python. The gate
sees the requests waiting only if the server hands them to Python threads: serve with many more
blocking threads than `SHEDDING_IN_FLIGHT` (README: 24), and mind that each thread keeps its own
database connection (workers x threads under PostgreSQL's max_connections).
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _

from bastion.core.errors import DomainError

logger = logging.getLogger(__name__)

# How often a process that is refusing says so in its log, at most (seconds).
_REPORT_EVERY = 10.0

View = TypeVar("View", bound=Callable[..., Any])


class Overloaded(DomainError):
    """Refused unread: too many requests of the same kind are being served. Try again after
    the `Retry-After` seconds."""

    status = 503
    code = "overloaded"
    default_message = _("The service is busy right now; nothing was recorded. Try again in a moment.")


@dataclass(eq=False)
class Gate:
    """Admission to one kind of hot request in this process. `limit`, `wait_ms` and
    `retry_after_s` fall back to the settings (read at each request, so a test may override
    them)."""

    name: str
    limit: int | None = None
    wait_ms: int | None = None
    retry_after_s: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _queue: deque[threading.Event] = field(default_factory=deque, repr=False)
    _in_flight: int = 0
    _waiting: int = 0
    _admitted: int = 0
    _refused: int = 0
    _refused_reported: int = 0
    _reported_at: float = 0.0

    def _limit(self) -> int:
        return max(1, self.limit if self.limit is not None else settings.SHEDDING_IN_FLIGHT)

    def _wait(self) -> float:
        return max(0, self.wait_ms if self.wait_ms is not None else settings.SHEDDING_WAIT_MS) / 1000

    def retry_after(self) -> int:
        seconds = self.retry_after_s if self.retry_after_s is not None else settings.SHEDDING_RETRY_AFTER_S
        return max(1, seconds)

    def enter(self) -> bool:
        """Take a slot, waiting for one at most the gate's wait; False when refused. Waiters are
        served in their order of arrival: a slot that frees goes to the oldest waiter, never to
        a request that arrives after it (not even the thread that just left, which holds the
        GIL and would otherwise take it again before the waiter wakes, refusing the waiter after
        its whole wait while slots were freeing all along)."""
        with self._lock:
            if self._in_flight < self._limit() and not self._queue:
                self._in_flight += 1
                self._admitted += 1
                return True
            ticket = threading.Event()
            self._queue.append(ticket)
            self._waiting += 1
        granted = ticket.wait(timeout=self._wait())
        with self._lock:
            self._waiting -= 1
            if not granted and not ticket.is_set():
                self._queue.remove(ticket)
                self._refuse()
                return False
            # Handed over by `leave`: the slot is counted in flight already.
            self._admitted += 1
            return True

    def leave(self) -> None:
        with self._lock:
            if self._queue and self._in_flight <= self._limit():
                self._queue.popleft().set()  # the slot passes to the oldest waiter
            else:
                self._in_flight -= 1

    def counts(self) -> dict[str, int]:
        """This process's figures: requests admitted and refused since it started, in flight and
        waiting now."""
        with self._lock:
            return {
                "admitted": self._admitted,
                "refused": self._refused,
                "in_flight": self._in_flight,
                "waiting": self._waiting,
            }

    def _refuse(self) -> None:
        # Called holding the lock.
        self._refused += 1
        now = time.monotonic()
        if now - self._reported_at >= _REPORT_EVERY:
            logger.warning(
                "shedding load on %s: %d requests refused (%d since the last report), %d in flight",
                self.name,
                self._refused,
                self._refused - self._refused_reported,
                self._in_flight,
            )
            self._reported_at, self._refused_reported = now, self._refused

    def refusal(self) -> HttpResponse:
        """503 in the one error shape, in the request's language, with `Retry-After`."""
        response = JsonResponse(
            Overloaded().as_dict(), status=Overloaded.status, json_dumps_params={"ensure_ascii": False}
        )
        response["Retry-After"] = str(self.retry_after())
        # Not one log line a refusal (Django logs every 5xx): the gate says what it refused in one
        # line every few seconds (`_refuse`), and a burst is no time to write thousands.
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response


def shed(gate: Gate) -> Callable[[View], View]:
    """Run the view only with a slot of `gate`; answer `gate.refusal()` without running it
    otherwise. The view is marked, so that the API document declares its 503."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def gated(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not gate.enter():
                return gate.refusal()
            try:
                return view(request, *args, **kwargs)
            finally:
                gate.leave()

        gated.shedding_gate = gate  # type: ignore[attr-defined]
        # The view's parameters with their annotations resolved in the view's own module, for
        # Django Ninja, which reads them from the function it is given (and its globals).
        gated.__signature__ = inspect.signature(view, eval_str=True)  # type: ignore[attr-defined]
        return gated  # type: ignore[return-value]

    return decorate


def gate_of(view: Callable[..., Any]) -> Gate | None:
    """The gate a view was opted into with `shed`, if any."""
    return getattr(view, "shedding_gate", None)
