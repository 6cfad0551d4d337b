"""Real queues' default retry schedules, written as the scenario's own retry keys.

Each preset is the documented default of its system, formula and numbers, as
docs/retries.md cites them. A preset only fills the keys a retry block leaves out: any
key written beside it wins. When the block sets its own schedule shape (`backoff` or
`delays`), the preset's shape keys are dropped with it, so `preset: sidekiq` with
`backoff: fixed` does not keep Sidekiq's exponent.
"""

from __future__ import annotations

from typing import Any, Final, Literal

PresetName = Literal[
    "sidekiq", "celery", "celery_backoff", "bullmq", "sqs", "rq", "dramatiq", "temporal"
]
PRESET_NAMES: Final = (
    "sidekiq",
    "celery",
    "celery_backoff",
    "bullmq",
    "sqs",
    "rq",
    "dramatiq",
    "temporal",
)

# The keys that make up the shape of a schedule: a block that names its own shape drops these.
_SHAPE_KEYS: Final = frozenset({"backoff", "delays", "multiplier", "exponent"})
# A list of delays has no base or cap: a block that gives one drops the preset's too.
_DELAY_BOUNDS: Final = frozenset({"base_delay", "max_delay"})

PRESETS: Final[dict[str, dict[str, Any]]] = {
    # Sidekiq JobRetry: 25 retries; delay (count**4) + 15 s, plus rand(10) * (count + 1) s,
    # count = retries so far (0 for the first). No cap.
    "sidekiq": {
        "max_attempts": 26,
        "backoff": "polynomial",
        "base_delay": "15s",
        "exponent": 4.0,
        "max_delay": "8760h",
        "jitter": "sidekiq",
    },
    # Celery Task.retry(): max_retries 3, default_retry_delay 180 s, no jitter.
    "celery": {
        "max_attempts": 4,
        "backoff": "fixed",
        "base_delay": "180s",
        "max_delay": "180s",
        "jitter": "none",
    },
    # Celery autoretry with retry_backoff=True: min(600, 2**retries) s, retry_backoff_max 600,
    # retry_jitter True: random.randrange(countdown + 1), whole seconds; max_retries 3.
    "celery_backoff": {
        "max_attempts": 4,
        "backoff": "exponential",
        "base_delay": "1s",
        "max_delay": "600s",
        "jitter": "full",
        "resolution": "1s",
    },
    # BullMQ built-in exponential: round(2 ** (attemptsMade - 1) * delay) ms, no jitter by
    # default, no cap. BullMQ's own default is attempts: 1 (no retry at all); the preset takes
    # the documented example, attempts: 3 with delay: 1000.
    "bullmq": {
        "max_attempts": 3,
        "backoff": "exponential",
        "base_delay": "1s",
        "max_delay": "8760h",
        "jitter": "none",
        "resolution": "1ms",
    },
    # SQS redrive: a message not deleted reappears when its visibility timeout (default 30 s)
    # runs out; after maxReceiveCount receives it moves to the DLQ. maxReceiveCount has no
    # default: the preset takes 5, the least AWS recommends for a queue that feeds Lambda.
    "sqs": {
        "max_attempts": 5,
        "backoff": "fixed",
        "base_delay": "30s",
        "max_delay": "30s",
        "jitter": "none",
    },
    # RQ retries nothing by default; the preset is the documented Retry(max=3,
    # interval=[10, 30, 60]) (the last interval repeats).
    "rq": {
        "max_attempts": 4,
        "delays": ["10s", "30s", "60s"],
        "jitter": "none",
    },
    # Dramatiq Retries middleware: max_retries 20, min_backoff 15 s, max_backoff 7 days;
    # compute_backoff: b = min(min_backoff * 2**retries, max_backoff), then int(b/2 + U(0, b/2))
    # milliseconds.
    "dramatiq": {
        "max_attempts": 21,
        "backoff": "exponential",
        "base_delay": "15s",
        "max_delay": "168h",
        "jitter": "equal",
        "resolution": "1ms",
    },
    # Temporal activity default: initial 1 s, coefficient 2.0, maximum 100 x initial,
    # maximum attempts 0 (unlimited): dtq stops at its own ceiling of 1000 attempts.
    "temporal": {
        "max_attempts": 1000,
        "backoff": "exponential",
        "base_delay": "1s",
        "multiplier": 2.0,
        "max_delay": "100s",
        "jitter": "none",
    },
}


def with_preset(data: Any) -> Any:
    """A retry block's keys with its preset's filled in under them (unchanged if no preset)."""
    if not isinstance(data, dict):
        return data
    merged = dict(data)
    preset = PRESETS.get(data["preset"]) if isinstance(data.get("preset"), str) else None
    if preset is not None:
        own_shape = "backoff" in data or "delays" in data
        dropped = _SHAPE_KEYS | _DELAY_BOUNDS if "delays" in data else _SHAPE_KEYS
        keys = {k: v for k, v in preset.items() if not (own_shape and k in dropped)}
        merged = keys | merged
    if "delays" in merged and "backoff" not in merged:
        merged["backoff"] = "delays"
    return merged
