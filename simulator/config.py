"""The simulator's knobs, in one dataclass that both the Python API and the command line are derived from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

TRUNCATE_MODES = ("short-body", "cut-json")


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulated Server API behaves. Every field is also a `python -m simulator --<field-name>` option.

    Fault rates are per API request and drawn from an RNG seeded with `seed`, so a run with
    `fail_5xx_rate=0.3` is reproducible in aggregate. `drop_rate + fail_5xx_rate + truncate_rate` must not
    exceed 1 (one draw decides among them). `/_simulator/*` is never faulted, throttled or delayed.
    """

    host: str = field(default="127.0.0.1", metadata={"help": "interface to bind (loopback by default)"})
    port: int = field(default=0, metadata={"help": "TCP port; 0 picks a free ephemeral port"})
    seed: int = field(default=1, metadata={"help": "seed of the population and of the fault draws"})
    api_key: str = field(
        default="sim-secret-key", metadata={"help": "the secret key accepted in Auth-API-Key or ?api_key="}
    )
    events_per_day: int = field(default=2000, metadata={"help": "events per UTC day in the population"})
    latency_ms: float = field(default=0.0, metadata={"help": "artificial latency added to every API request"})
    rps_limit: float | None = field(
        default=None, metadata={"help": "token-bucket rate limit in requests/second (none = unlimited)"}
    )
    rps_burst: int | None = field(
        default=None, metadata={"help": "token-bucket size (none = 3 x rps_limit, as Fingerprint documents)"}
    )
    throttle_in_200_rate: float = field(
        default=0.0, metadata={"help": "share of throttled event requests answered with the in-200 throttle body"}
    )
    fail_5xx_rate: float = field(default=0.0, metadata={"help": "share of API requests answered 500/502/503"})
    drop_rate: float = field(
        default=0.0, metadata={"help": "share of API requests whose connection is closed without an answer"}
    )
    truncate_rate: float = field(default=0.0, metadata={"help": "share of 200 answers whose body is cut in half"})
    truncate_mode: str = field(
        default="short-body",
        metadata={
            "help": "short-body: full Content-Length, half the body, then close; "
            "cut-json: half the JSON with a matching Content-Length"
        },
    )
    retention_days: int | None = field(
        default=30, metadata={"help": "events older than this answer 404 (none = keep forever)"}
    )
    now_ms: int | None = field(default=None, metadata={"help": "fixed simulator clock in epoch ms (none = real time)"})
    update_not_ready_ms: int = field(
        default=0, metadata={"help": "events younger than this answer an update with 409 StateNotReady (0 = never)"}
    )
    recorded_dir: Path | None = field(
        default=None, metadata={"help": "folder of recorded 200 bodies served verbatim before generating"}
    )
    log_requests: bool = field(default=False, metadata={"help": "log every request to stderr"})

    def __post_init__(self) -> None:
        rates = {
            "throttle_in_200_rate": self.throttle_in_200_rate,
            "fail_5xx_rate": self.fail_5xx_rate,
            "drop_rate": self.drop_rate,
            "truncate_rate": self.truncate_rate,
        }
        for name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if self.drop_rate + self.fail_5xx_rate + self.truncate_rate > 1.0:
            raise ValueError("drop_rate + fail_5xx_rate + truncate_rate must not exceed 1")
        if self.rps_limit is not None and self.rps_limit <= 0:
            raise ValueError(f"rps_limit must be positive or None, got {self.rps_limit}")
        if self.rps_burst is not None and self.rps_burst < 1:
            raise ValueError(f"rps_burst must be at least 1, got {self.rps_burst}")
        if self.truncate_mode not in TRUNCATE_MODES:
            raise ValueError(f"truncate_mode must be one of {TRUNCATE_MODES}, got {self.truncate_mode!r}")
        if self.retention_days is not None and self.retention_days < 0:
            raise ValueError(f"retention_days must be >= 0 or None, got {self.retention_days}")
        if self.update_not_ready_ms < 0:
            raise ValueError(f"update_not_ready_ms must be >= 0, got {self.update_not_ready_ms}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        if self.recorded_dir is not None and not Path(self.recorded_dir).is_dir():
            raise ValueError(f"recorded_dir {self.recorded_dir} is not a directory")

    @property
    def bucket_size(self) -> int:
        """Burst capacity of the rate limiter: `rps_burst`, else three seconds' worth of `rps_limit`."""
        if self.rps_burst is not None:
            return self.rps_burst
        return max(1, round(3 * (self.rps_limit or 0)))
