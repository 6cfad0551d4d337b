"""`dtq verify`'s checks of dependencies and expiry, independent of the reducer.

No dependency ever serves more calls at once than its slots allow at that moment: the
scenario's `concurrency`, scaled by a slowdown in force (at least one slot). Calls
already in service when a slowdown starts may finish; no new one may start above the
limit, so every `call_started` is checked against it. The calls in service are counted
here from the log itself (a call is in service from its `call_started` to its one
`call_ended`), as well as read from the engine's `in_flight`. A task dead-lettered as
`expired` really waited past its type's `expires` since it was submitted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from dtq.events import Event

Report = Callable[[int, "str | None", str], None]


class CallChecks:
    """Checks call and expiry events as they stream past; reports violations."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._concurrency: dict[str, int | None] = {}
        self._factor: dict[str, float] = {}
        self._slowdowns: dict[int, str] = {}  # fault index -> dependency it slows
        self._expires: dict[str, float] = {}  # task type -> expires (s)
        self._submitted: dict[str, float] = {}  # task id -> submitted t (expiring types)
        # Calls in service, by dependency: (task id, attempt), one call at a time each.
        self._serving: dict[str, set[tuple[str, int]]] = {}

    def run_started(self, event: Event) -> None:
        """Read each dependency's slots and each task type's expiry from the scenario."""
        scenario: Any = event.get("scenario")
        if not isinstance(scenario, dict):
            return
        for name, dep in (scenario.get("dependencies") or {}).items():
            if isinstance(dep, dict):
                limit = dep.get("concurrency")
                self._concurrency[name] = limit if isinstance(limit, int) else None
        for name, spec in (scenario.get("task_types") or {}).items():
            expires = spec.get("expires") if isinstance(spec, dict) else None
            if isinstance(expires, int | float):
                self._expires[name] = float(expires)

    def submitted(self, event: Event) -> None:
        """Remember when a task of an expiring type was submitted."""
        if event["type"] in self._expires:
            self._submitted[event["task_id"]] = event["t"]

    def fault_started(self, _line: int, event: Event) -> None:
        """A slowdown scales its dependency's slots while it lasts."""
        if event.get("kind") == "slowdown" and isinstance(event.get("dependency"), str):
            name = event["dependency"]
            self._slowdowns[event["fault"]] = name
            capacity = event.get("capacity")
            self._factor[name] = float(capacity) if isinstance(capacity, int | float) else 1.0

    def fault_ended(self, _line: int, event: Event) -> None:
        """The end of a slowdown gives the dependency its slots back."""
        name = self._slowdowns.pop(event["fault"], None)
        if name is not None:
            self._factor.pop(name, None)

    def call_started(self, line: int, event: Event) -> None:
        """The call that just started must fit in the dependency's slots now."""
        name, task_id = event["dependency"], event["task_id"]
        serving = self._serving.setdefault(name, set())
        call = (task_id, event["attempt"])
        if call in serving:
            self._report(line, task_id, f"a second call_started at {name} for attempt {call[1]}")
        serving.add(call)
        # The log's count, and the engine's own (`in_flight`, counted after every call
        # that starts at this instant): neither may pass the limit.
        count = max(len(serving), event["in_flight"])
        limit = self.slots(name)
        if limit is not None and count > limit:
            self._report(
                line, task_id, f"{name} serves {count} calls at once; its limit now is {limit}"
            )

    def call_ended(self, line: int, event: Event) -> None:
        """A served call ends once; a call cancelled in line (never served) was not serving."""
        if event.get("outcome") == "cancelled" and event.get("served_s") is None:
            return
        name, task_id = event["dependency"], event["task_id"]
        call = (task_id, event["attempt"])
        serving = self._serving.get(name)
        if serving is None or call not in serving:
            self._report(
                line,
                task_id,
                f"call_ended at {name} for attempt {call[1]}, which was not in service "
                "(never started, or ended already)",
            )
            return
        serving.discard(call)

    def slots(self, name: str) -> int | None:
        """How many calls `name` may serve at once now (None: no limit)."""
        limit = self._concurrency.get(name)
        if limit is None:
            return None
        factor = self._factor.get(name, 1.0)
        return limit if factor == 1.0 else max(1, math.floor(limit * factor))

    def check_expired(self, line: int, event: Event) -> None:
        """A task dead-lettered as expired must have waited past its type's `expires`."""
        task_id = event["task_id"]
        expires = self._expires.get(event["type"])
        submitted = self._submitted.get(task_id)
        if expires is None:
            self._report(line, task_id, f"expired, but task type {event['type']} has no expires")
        elif submitted is not None and event["t"] - submitted <= expires:
            waited = event["t"] - submitted
            self._report(
                line, task_id, f"expired after {waited:g}s, within its expires of {expires:g}s"
            )
