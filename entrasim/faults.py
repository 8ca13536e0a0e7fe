"""Injectable misbehaviour, settable while the server runs (`sim.faults.p_503 = 0.1`).

Draws come from one seeded RNG so a single-threaded fault run is reproducible. Faults apply to
Graph requests (including each `$batch` item for 429s); latency and dropped connections apply to
every HTTP request, the token endpoint included.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass(slots=True)
class Faults:
    latency: float = 0.0  # seconds added before every answer
    p_429: float = 0.0  # 429 without Retry-After
    p_429_retry_after: float = 0.0  # 429 with Retry-After: retry_after_seconds
    retry_after_seconds: int = 1
    p_500: float = 0.0
    p_503: float = 0.0
    p_504: float = 0.0
    p_drop: float = 0.0  # close the connection without answering
    # Answer 400 Directory_ExpiredPageToken once, on the first request for this page number
    # (2 = the first nextLink) of any paged listing; cleared once it fired.
    expired_page_token_on_page: int | None = None
    # Answer 503 to every request for this page number or a later one of any paged listing
    # (2 = the first nextLink), until reset: an outage that begins partway through a listing,
    # however far ahead the client reads.
    unavailable_from_page: int | None = None
    # The next page of a `users/delta` or `groups/delta` round (not a `$deltatoken=latest`
    # answer) of `malformed_delta_resource` comes back malformed, once: "no_value" (no `value`),
    # "value_not_list" (`value` is an object), "junk_items" (items that are not objects, and an
    # `@removed` entry for an id the tenant never held). Graph documents none of these; they
    # stand for a broken proxy or service bug the connector must not take as "no changes".
    malformed_delta: str | None = None
    malformed_delta_resource: str = "users"
    # Only these routes (e.g. {"GET /users"}) get random faults; None = all Graph routes.
    routes: frozenset[str] | None = None
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self.seed = seed
            self._rng = random.Random(seed)

    def reset(self) -> None:
        """No faults at all (the RNG restarts from `seed`)."""
        for name in ("latency", "p_429", "p_429_retry_after", "p_500", "p_503", "p_504", "p_drop"):
            setattr(self, name, 0.0)
        self.retry_after_seconds = 1
        self.expired_page_token_on_page = None
        self.unavailable_from_page = None
        self.malformed_delta = None
        self.malformed_delta_resource = "users"
        self.routes = None
        self.reseed(self.seed)

    def applies_to(self, route: str) -> bool:
        return self.routes is None or route in self.routes

    def draw_drop(self) -> bool:
        return self.p_drop > 0 and self._draw() < self.p_drop

    def draw_error(self) -> str | None:
        """Which injected answer this request gets: "429", "429+", "500", "503", "504" or None."""
        if not (self.p_429 or self.p_429_retry_after or self.p_500 or self.p_503 or self.p_504):
            return None
        r = self._draw()
        for name, p in (("429", self.p_429), ("429+", self.p_429_retry_after),
                        ("500", self.p_500), ("503", self.p_503), ("504", self.p_504)):
            if r < p:
                return name
            r -= p
        return None

    def take_expired_page(self, page: int) -> bool:
        with self._lock:
            if self.expired_page_token_on_page is not None and page == self.expired_page_token_on_page:
                self.expired_page_token_on_page = None
                return True
            return False

    def page_unavailable(self, page: int) -> bool:
        return self.unavailable_from_page is not None and page >= self.unavailable_from_page

    def take_malformed_delta(self, resource: str) -> str | None:
        """The malformation for this delta page of `resource`, if one is armed (then cleared)."""
        with self._lock:
            kind = self.malformed_delta
            if kind is None or resource != self.malformed_delta_resource:
                return None
            self.malformed_delta = None
            return kind

    def _draw(self) -> float:
        with self._lock:
            return self._rng.random()
