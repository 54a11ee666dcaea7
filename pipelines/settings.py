"""Every setting of fp-events-warehouse, declared once: its environment variable, type, default and meaning.

The variables are a public interface (deployments and scripts set them): the README's table is generated from
these declarations (`python -m pipelines.docs --write`), so adding a setting is one field here. Each group is a
Dagster `Config`, so the resources that carry it show it typed in the UI, and it is validated by pydantic.

`Settings.from_env()` reads every variable at once and raises `SettingsError` listing every problem, one line
each, naming the variable, the bad value (never a secret's) and the fix. It runs when the definitions load and at
the start of every `./fpwh` command, so a typo stops the work before any of it starts. Nothing reads the
environment at import time.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

import dagster as dg
from pydantic import BaseModel, Field, ValidationError, field_validator

from pipelines.storage.location import Location
from transforms.dialects import dialect
from transforms.sealed import SealedKeys

REGION_HOSTS = {
    "us": "https://api.fpjs.io",
    "eu": "https://eu.api.fpjs.io",
    "ap": "https://ap.api.fpjs.io",
}
SECRET_KEY_ENV = "FINGERPRINT_SECRET_API_KEY"
WEBHOOK_SECRET_ENV = "FINGERPRINT_WEBHOOK_SECRET"
SEALED_KEYS_ENV = "FINGERPRINT_SEALED_KEYS"
# Secrets are never fields of Settings (which the Dagster UI shows): (variable, meaning) for the README.
SECRETS: tuple[tuple[str, str], ...] = (
    (
        WEBHOOK_SECRET_ENV,
        "Webhook signing secret(s), comma-separated during a rotation; the receiver checks `FPJS-Event-Signature` "
        "with each (see [Push mode](#push-mode-webhooks-and-sealed-results)).",
    ),
    (
        SEALED_KEYS_ENV,
        "Sealed client results: the base64 AES-256 key(s) from the dashboard, comma-separated during a rotation.",
    ),
)
PRIVACY_KEY_ENV = "FPWH_PRIVACY_KEY"
MIN_PRIVACY_KEY_CHARS = 16
FetchStrategy = Literal["by_id", "search", "auto"]
SearchKeep = Literal["logged", "all"]
LogFormat = Literal["auto", "jsonl", "logfmt", "text"]
IpPrivacy = Literal["full", "truncate", "hash"]
UrlPrivacy = Literal["full", "strip_query"]


def setting(default: Any, env: str | None, help: str, fix: str = "") -> Any:
    """A field read from the environment variable `env` (None: not settable from the environment)."""
    return Field(default, description=help, json_schema_extra={"env": env, "fix": fix})


class ApiSettings(dg.Config):
    """How to reach the Server API and how hard to push it (5 requests/s per key, burst 3x, by default)."""

    region: Literal["us", "eu", "ap"] = setting(
        "us",
        "FINGERPRINT_REGION",
        "`us`/`eu`/`ap` → `api.fpjs.io` / `eu.api.fpjs.io` / `ap.api.fpjs.io` (v4: plus `/v4`).",
        "set it to your application's region (us, eu or ap), or set FINGERPRINT_API_URL",
    )
    api_url: str | None = setting(
        None,
        "FINGERPRINT_API_URL",
        "Server root override (simulator, proxy); wins over the region. v4 appends `/v4/events/<id>` to it.",
        "give a URL that starts with https:// (or http:// for a local simulator)",
    )
    api_version: int = setting(
        3,
        "FINGERPRINT_API_VERSION",
        "Server API version, `3` or `4` (see [Migrating to Server API v4](#migrating-to-server-api-v4)).",
        "set it to 3 or 4",
    )
    rate_limit_rps: float = setting(
        5.0,
        "FINGERPRINT_RATE_LIMIT_RPS",
        "Client-side rate limit per secret key, shared by every process that uses the key (0: none).",
        "set it to your key's requests per second (5 by default), or 0 for no limit",
    )
    rate_limit_burst: float | None = setting(
        None, "FINGERPRINT_RATE_LIMIT_BURST", "Token-bucket burst (default 3 x rps).", "set it to a number >= 1"
    )
    retention_days: int = setting(
        30,
        "FINGERPRINT_RETENTION_DAYS",
        "Your plan's event retention; older IDs are reported as expired, not retried.",
        "set it to your plan's retention in days (30 on standard plans)",
    )
    concurrency: int = setting(8, "FPWH_FETCH_CONCURRENCY", "Requests in flight.", "set it to 1 or more")
    timeout_s: float = setting(10.0, "FPWH_FETCH_TIMEOUT_S", "Per-request timeout, seconds.", "set it above 0")
    max_attempts: int = setting(
        6,
        "FPWH_FETCH_MAX_ATTEMPTS",
        "Attempts per request (429/5xx/timeouts/broken bodies are retried with backoff).",
        "set it to 1 or more",
    )
    fetch_strategy: FetchStrategy = setting(
        "auto",
        "FPWH_FETCH_STRATEGY",
        "`by_id` (one call per logged ID), `search` (pages of up to 200 events from the events search, then by ID "
        "what it did not return) or `auto` (search while it costs fewer calls than fetching by ID, re-estimated "
        "before every page).",
        "set it to by_id, search or auto",
    )
    search_keep: SearchKeep = setting(
        "logged",
        "FPWH_SEARCH_KEEP",
        "What a search lands: the `logged` IDs' events only, or `all` events of the day (logged or not).",
        "set it to logged or all",
    )
    search_page_size: int | None = setting(
        None,
        "FPWH_SEARCH_PAGE_SIZE",
        "Events per search page (default the API maximum: v3 200, v4 100); smaller only for tests.",
        "set it to 1 or more",
    )
    refresh_days: int | None = setting(
        None,
        "FPWH_REFRESH_DAYS",
        "Days before the night's day whose events are re-read for updates (linked ID, tag, suspect) and rewritten "
        "where they changed (default the API's update window: v3 10, v4 31; capped at FINGERPRINT_RETENTION_DAYS; "
        "0: off). See [Data protection](#data-protection).",
        "set it to 0 (off) or a number of days, e.g. 10",
    )
    backoff_base_s: float = setting(0.5, None, "First retry's backoff ceiling (doubles per retry), seconds.")
    backoff_cap_s: float = setting(30.0, None, "Largest backoff between two attempts, seconds.")

    @field_validator("region", mode="before")
    @classmethod
    def _region_lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("api_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value not in (3, 4):
            raise ValueError("Input should be 3 or 4")
        return value

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("Input should start with https:// or http://")
        return value

    @field_validator("concurrency", "max_attempts", "search_page_size", "retention_days")
    @classmethod
    def _at_least_one(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("Input should be at least 1")
        return value

    @field_validator("refresh_days")
    @classmethod
    def _days_or_off(cls, value: int | None) -> int | None:
        if value is not None and value < 0:
            raise ValueError("Input should be 0 or more")
        return value

    @field_validator("timeout_s", "rate_limit_burst")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and not value > 0:
            raise ValueError("Input should be greater than 0")
        return value

    @field_validator("rate_limit_rps")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("Input should be 0 or more")
        return value

    @property
    def root_url(self) -> str:
        """The server root: FINGERPRINT_API_URL when set, else the region's host."""
        return self.api_url.rstrip("/") if self.api_url else REGION_HOSTS[self.region]

    @property
    def burst_size(self) -> float:
        return self.rate_limit_burst if self.rate_limit_burst is not None else 3 * self.rate_limit_rps

    @property
    def refresh_window_days(self) -> int:
        """Days re-read by the nightly refresh: FPWH_REFRESH_DAYS or the update window, never past retention."""
        days = self.refresh_days if self.refresh_days is not None else dialect(self.api_version).update_window_days
        return min(days, self.retention_days)


class LogSettings(dg.Config):
    """Where the application logs are and how to read them."""

    glob: str = setting(
        "logs/**/*.log*",
        "FPWH_LOG_GLOB",
        "Where the application logs are (`**` allowed; plain or .gz; JSON lines, logfmt or text).",
        "point it at your application's log files",
    )
    format: LogFormat = setting(
        "auto",
        "FPWH_LOG_FORMAT",
        "`auto`, `jsonl`, `logfmt` or `text` (auto-detected per file).",
        "set it to auto, jsonl, logfmt or text",
    )
    max_ids_per_line: int = setting(
        20,
        "FPWH_MAX_IDS_PER_LINE",
        "A log line with more distinct request IDs than this is rejected (`too_many_ids`), not fetched.",
        "set it to 1 or more",
    )
    sealed_fields: str = setting(
        "sealedResult,sealed_result",
        "FPWH_SEALED_RESULT_FIELDS",
        "JSON/logfmt fields that may hold a sealed client result (comma-separated); opened with "
        "FINGERPRINT_SEALED_KEYS, its event costs no API call.",
        "name the field(s) your application logs the sealed result in, comma-separated",
    )

    @property
    def sealed_field_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.sealed_fields.split(",") if name.strip())

    max_rejected_share: float = setting(
        0.1,
        "FPWH_MAX_REJECTED_SHARE",
        "WARN check: above this share of unusable lines among a day's lines that carry a request ID (malformed, "
        "invalid ID, binary, ...; lines without any ID are not counted), the day is flagged.",
        "give a share between 0 and 1, e.g. 0.1",
    )

    @field_validator("max_rejected_share")
    @classmethod
    def _share(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError("Input should be between 0 and 1")
        return value

    @field_validator("max_ids_per_line")
    @classmethod
    def _positive_count(cls, value: int) -> int:
        if value < 1:
            raise ValueError("Input should be at least 1")
        return value


class WebhookSettings(dg.Config):
    """The webhook receiver (`./fpwh webhooks serve`): where it listens and how it lands what it acknowledges."""

    host: str = setting(
        "127.0.0.1",
        "FPWH_WEBHOOK_HOST",
        "Interface the webhook receiver listens on (`--host` wins); put it behind your TLS proxy.",
        "give an interface address, e.g. 127.0.0.1 or 0.0.0.0",
    )
    port: int = setting(8780, "FPWH_WEBHOOK_PORT", "TCP port of the webhook receiver (`--port` wins).", "give 1-65535")
    max_body_bytes: int = setting(
        2 << 20,
        "FPWH_WEBHOOK_MAX_BODY_BYTES",
        "Larger webhook bodies are refused (413) before they are read whole.",
        "set it to 1 or more (bytes)",
    )
    land_interval_s: float = setting(
        60.0,
        "FPWH_WEBHOOK_LAND_INTERVAL_S",
        "How often the receiver moves acknowledged webhooks from its write-ahead inbox into bronze (one bronze "
        "file per event day each time).",
        "set it above 0 (seconds)",
    )

    @field_validator("port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError("Input should be a TCP port, 0-65535")
        return value

    @field_validator("max_body_bytes")
    @classmethod
    def _some_bytes(cls, value: int) -> int:
        if value < 1:
            raise ValueError("Input should be at least 1")
        return value

    @field_validator("land_interval_s")
    @classmethod
    def _interval(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("Input should be greater than 0")
        return value


class WarehouseSettings(dg.Config):
    """Where the warehouse lives: a local folder, or object storage with a shared catalog database."""

    directory: str = setting(
        "warehouse",
        "FPWH_WAREHOUSE_DIR",
        "Where the warehouse lives: a local folder, or `s3://bucket/prefix` (credentials and endpoint from the "
        "standard `AWS_*` variables, `AWS_ENDPOINT_URL` for S3-compatible stores).",
        "point it at a folder this process may create and write, or at s3://bucket/prefix",
    )
    catalog_url: str | None = setting(
        None,
        "FPWH_CATALOG_URL",
        "The catalog database (Iceberg catalog and run state), as a SQLAlchemy URL: `sqlite:///...` or "
        "`postgresql://...`. Default: `catalog.db` beside a local warehouse; required for an `s3://` one.",
        "give a sqlite:/// or postgresql:// URL",
    )
    retention_hours: float = setting(
        24.0,
        "FPWH_SNAPSHOT_RETENTION_HOURS",
        "How long replaced data files and table snapshots are kept (open analyst connections keep working that "
        "long); whatever their age, at most 10 replaced versions of a table's day and 20 snapshots per table are "
        "kept, so re-runs never fill the disk.",
        "give a number of hours, e.g. 24",
    )

    @field_validator("catalog_url")
    @classmethod
    def _sql_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite:///", "postgresql://", "postgresql+", "postgres://")):
            raise ValueError("Input should be a sqlite:/// or postgresql:// URL")
        return value

    raw_retention_days: int | None = setting(
        None,
        "FPWH_RAW_RETENTION_DAYS",
        "Raw response bodies in bronze older than this many days are dropped; the tables built from them stay, "
        "but can no longer be rebuilt (default: kept forever). See [Data protection](#data-protection).",
        "set it to a number of days above the refresh window, e.g. 90",
    )

    @field_validator("retention_hours")
    @classmethod
    def _hours(cls, value: float) -> float:
        if value < 0:
            raise ValueError("Input should be 0 or more")
        return value

    @field_validator("raw_retention_days")
    @classmethod
    def _positive_days(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("Input should be at least 1")
        return value

    @property
    def location(self) -> Location:
        return Location.parse(self.directory)

    @property
    def catalog(self) -> str:
        """The catalog database URL: the setting, else `catalog.db` beside a local warehouse."""
        if self.catalog_url:
            return self.catalog_url
        return f"sqlite:///{self.location.local_root / 'catalog.db'}"


class PrivacySettings(dg.Config):
    """How IP addresses and URLs are stored in the tables (the raw bodies in bronze keep what the API sent)."""

    ip: IpPrivacy = setting(
        "full",
        "FPWH_IP_PRIVACY",
        "IP addresses in every table: `full`, `truncate` (IPv4 to its /24, IPv6 to its /48, host bits zeroed) or "
        f"`hash` (keyed HMAC-SHA256 with {PRIVACY_KEY_ENV}: joins still work). See "
        "[Data protection](#data-protection).",
        "set it to full, truncate or hash",
    )
    url: UrlPrivacy = setting(
        "full",
        "FPWH_URL_PRIVACY",
        "URLs in every table: `full` or `strip_query` (query string and fragment removed).",
        "set it to full or strip_query",
    )


class ScheduleSettings(dg.Config):
    """The daily partitions, the nightly schedule and the blocking data checks."""

    start_date: str = setting(
        "2025-01-01", "FPWH_START_DATE", "First daily partition.", "give a date as YYYY-MM-DD, e.g. 2025-01-01"
    )
    cron: str = setting(
        "0 2 * * *",
        "FPWH_SCHEDULE_CRON",
        "When the nightly run starts (in FPWH_SCHEDULE_TIMEZONE); it materializes the last complete UTC day.",
        "give a five-field cron expression, e.g. '0 2 * * *'",
    )
    timezone: str = setting(
        "UTC", "FPWH_SCHEDULE_TIMEZONE", "Time zone of FPWH_SCHEDULE_CRON.", "give an IANA name, e.g. Europe/Paris"
    )
    max_failed_rate: float = setting(
        0.05,
        "FPWH_MAX_FAILED_RATE",
        "Blocking check: above this share of failed fetches the day's tables are not rebuilt.",
        "give a share between 0 and 1, e.g. 0.05",
    )

    @field_validator("start_date")
    @classmethod
    def _iso_date(cls, value: str) -> str:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError("Input should be a date as YYYY-MM-DD") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("Input should be an IANA time zone name") from None
        return value

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if not _CRON.fullmatch(value.strip()):
            raise ValueError("Input should be a five-field cron expression")
        return value

    @field_validator("max_failed_rate")
    @classmethod
    def _share(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError("Input should be between 0 and 1")
        return value

    @property
    def first_day(self) -> date:
        return date.fromisoformat(self.start_date)


_CRON_FIELD = r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*"
_CRON = re.compile(rf"{_CRON_FIELD}(\s+{_CRON_FIELD}){{4}}")


class SettingsError(ValueError):
    """One or more settings are invalid; `problems` holds one line per problem, each naming its variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(BaseModel, frozen=True):
    """All settings, by group."""

    api: ApiSettings = ApiSettings()
    logs: LogSettings = LogSettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    webhooks: WebhookSettings = WebhookSettings()
    privacy: PrivacySettings = PrivacySettings()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, require_key: bool = True) -> Settings:
        """Read and validate every variable; SettingsError lists every problem (and whether the key is set)."""
        env = os.environ if environ is None else environ
        raw = {group: {name: env[var] for name, var in fields if env.get(var)} for group, fields in _env_fields()}
        problems: list[str] = []
        settings = cls()
        try:
            settings = cls.model_validate(raw)
        except ValidationError as error:
            problems += [_describe(problem, env) for problem in error.errors()]
        problems += _warehouse_problems(env.get("FPWH_WAREHOUSE_DIR") or "warehouse", env.get("FPWH_CATALOG_URL"))
        if require_key:
            problems += key_problems(env.get(SECRET_KEY_ENV, ""))
        problems += _sealed_key_problems(env.get(SEALED_KEYS_ENV, ""))
        problems += _privacy_key_problems(env.get("FPWH_IP_PRIVACY", ""), env.get(PRIVACY_KEY_ENV, ""))
        if not problems:
            problems += _retention_problems(settings)
        if problems:
            raise SettingsError(problems)
        return settings

    def environment(self) -> dict[str, str]:
        """The variables that give these settings (those that differ from the defaults): what a deployment sets."""
        env: dict[str, str] = {}
        for group, fields in _env_fields():
            values, defaults = getattr(self, group), type(getattr(self, group))()
            for name, var in fields:
                value = getattr(values, name)
                if value != getattr(defaults, name) and value is not None:
                    env[var] = str(value)
        return env

    def replace(self, **groups: Mapping[str, Any]) -> Settings:
        """A copy with some fields of some groups changed, validated: `settings.replace(api={"api_version": 4})`."""
        changed = {}
        for name, changes in groups.items():
            group: BaseModel = getattr(self, name)
            changed[name] = type(group).model_validate({**group.model_dump(), **changes})
        return self.model_copy(update=changed)


def documented() -> Iterator[tuple[str, str, str]]:
    """(variable, default, meaning) of every setting, in declaration order: the README's table."""
    yield SECRET_KEY_ENV, "— (required)", "Server API secret key. Sent only in a header (never logged or stored)."
    for env, meaning in SECRETS:
        yield env, "—", meaning + " Never logged or stored."
    for group, _ in _env_fields():
        for name, field in Settings.model_fields[group].annotation.model_fields.items():  # type: ignore[union-attr]
            env = (field.json_schema_extra or {}).get("env")  # type: ignore[union-attr]
            if env:
                default = "—" if field.default is None else f"`{field.default}`"
                yield str(env), default, field.description or name
        if group == "privacy":
            yield (
                PRIVACY_KEY_ENV,
                "—",
                (
                    "Secret key of `FPWH_IP_PRIVACY=hash` (at least 16 characters; never logged or stored). Changing "
                    "it changes every hash: days hashed with another key no longer join."
                ),
            )


def _env_fields() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    for group, group_field in Settings.model_fields.items():
        model: type[BaseModel] = group_field.annotation  # type: ignore[assignment]
        fields = [
            (name, str(extra["env"]))
            for name, field in model.model_fields.items()
            if isinstance(extra := field.json_schema_extra, dict) and extra.get("env")
        ]
        yield group, fields


def _field_of(loc: tuple[Any, ...]) -> Any:
    group, name = str(loc[0]), str(loc[1]) if len(loc) > 1 else ""
    model: type[BaseModel] = Settings.model_fields[group].annotation  # type: ignore[assignment]
    return model.model_fields.get(name)


def _describe(problem: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """`VAR='value': what is wrong; how to fix it.` for one pydantic error."""
    field = _field_of(tuple(problem["loc"]))
    extra = (field.json_schema_extra or {}) if field is not None else {}
    var = extra.get("env") or ".".join(map(str, problem["loc"]))
    message = str(problem["msg"]).removeprefix("Value error, ")
    fix = f"; {extra['fix']}" if extra.get("fix") else ""
    return f"{var}={env.get(var, '')!r}: {message}{fix}"


def _warehouse_problems(directory: str, catalog_url: str | None) -> list[str]:
    """A remote warehouse needs a catalog; a local folder under an existing file can never be created."""
    if directory.startswith("s3://"):
        if len(directory) <= len("s3://") or directory[5] == "/":
            return [f"FPWH_WAREHOUSE_DIR={directory!r}: names no bucket; use s3://bucket/prefix"]
        if not catalog_url:
            return [
                f"FPWH_CATALOG_URL is not set: a warehouse in object storage ({directory}) needs a catalog "
                "database every machine reaches, e.g. postgresql://user@host/db"
            ]
        return []
    if "://" in directory:
        return [f"FPWH_WAREHOUSE_DIR={directory!r}: only local folders and s3://bucket/prefix are supported"]
    return folder_problems("FPWH_WAREHOUSE_DIR", directory)


def folder_problems(variable: str, directory: str) -> list[str]:
    """A folder (named by `variable`) under an existing file, or in a read-only one, can never be created or
    written: say so, in one line, before any work."""
    path = Path(directory).expanduser().absolute()
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                return [f"{variable}={directory!r}: {parent} is a file, not a folder; point it at a folder"]
            if not os.access(parent, os.W_OK | os.X_OK):
                return [f"{variable}={directory!r}: {parent} is not writable by this user; fix its permissions"]
            return []
    return []


def secret(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of the secret variable `name` ('' when unset), for the one place that hands it to its user."""
    return (os.environ if environ is None else environ).get(name, "").strip()


def _sealed_key_problems(text: str) -> list[str]:
    """Sealed keys are checked when the settings load, so a bad copy stops the run before any log is read."""
    if not text.strip():
        return []
    try:
        SealedKeys.from_base64(text)
    except ValueError as error:  # names the key by position, never its value
        return [f"{SEALED_KEYS_ENV}: {error}; re-copy the key(s) from the dashboard (base64, comma-separated)"]
    return []


def _privacy_key_problems(mode: str, key: str) -> list[str]:
    """The hash mode needs a key of its own; its value is never echoed back."""
    if mode != "hash":
        return []
    if len(key.strip()) < MIN_PRIVACY_KEY_CHARS:
        state = "is not set" if not key else f"is shorter than {MIN_PRIVACY_KEY_CHARS} characters"
        return [
            f"{PRIVACY_KEY_ENV} {state}: FPWH_IP_PRIVACY=hash needs a secret key of at least "
            f"{MIN_PRIVACY_KEY_CHARS} characters (e.g. from `openssl rand -hex 32`), kept like the API key"
        ]
    return []


def _retention_problems(settings: Settings) -> list[str]:
    """Refreshed days are rebuilt from their raw bodies, so those must outlive the refresh window."""
    keep, window = settings.warehouse.raw_retention_days, settings.api.refresh_window_days
    if keep is None or keep > window:
        return []
    return [
        f"FPWH_RAW_RETENTION_DAYS={str(keep)!r}: not above the refresh window ({window} days: FPWH_REFRESH_DAYS or "
        f"the API's update window), so refreshed days could not be rebuilt; set it above {window}, or lower "
        "FPWH_REFRESH_DAYS"
    ]


def key_problems(key: str) -> list[str]:
    """What is wrong with the secret key's value (never quoted back), one line each."""
    if not key:
        return [f"{SECRET_KEY_ENV} is not set: export your Server API secret key (Fingerprint dashboard → API keys)"]
    if re.search(r"[\s\x00-\x1f\x7f]", key):
        return [f"{SECRET_KEY_ENV} contains whitespace or control characters: re-copy the key"]
    return []
