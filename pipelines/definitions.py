"""The Dagster code location: every asset, check, job, schedule, sensor and resource of the warehouse.

`defs` is built when Dagster loads the code location (not at import), from settings validated at that moment:
a misconfiguration stops the load with one line per problem, naming the variable and the fix.
"""

from __future__ import annotations

import dagster as dg

from pipelines.defs import analytics, automation, erasure, ingest, silver, warehouse
from pipelines.defs.layer import Layer
from pipelines.resources import AppLogsResource, FingerprintApiResource, PrivacyResource, WarehouseResource
from pipelines.settings import PRIVACY_KEY_ENV, SEALED_KEYS_ENV, SECRET_KEY_ENV, Settings, secret

SECRET_API_KEY = dg.EnvVar(SECRET_KEY_ENV)
PRIVACY_KEY = dg.EnvVar(PRIVACY_KEY_ENV)


def build_definitions(
    settings: Settings,
    secret_api_key: str | dg.EnvVar = SECRET_API_KEY,
    sealed_keys: str | dg.EnvVar = "",
    privacy_key: str | dg.EnvVar = PRIVACY_KEY,
) -> dg.Definitions:
    """Every definition of the warehouse for `settings` (the keys are read from the environment at run time).

    Steps run in the run's own process (`in_process_executor`): a day's thirteen steps are short and run one after
    another anyway (each needs the previous one's files), so a process per step bought nothing but thirteen imports
    of Dagster, polars and DuckDB (~40 s of a no-op day on two cores). The privacy key is only asked for when
    FPWH_IP_PRIVACY=hash: no other mode uses it.
    """
    layer = Layer.from_settings(settings)
    resources = {
        "warehouse": WarehouseResource(settings=settings.warehouse),
        "app_logs": AppLogsResource(settings=settings.logs, sealed_keys=sealed_keys),
        "fingerprint_api": FingerprintApiResource(secret_api_key=secret_api_key, settings=settings.api),
        "privacy": PrivacyResource(settings=settings.privacy, key=privacy_key if settings.privacy.ip == "hash" else ""),
    }
    layers = [module.definitions(layer) for module in (ingest, silver, warehouse, analytics, automation)]
    layers.append(erasure.definitions())  # the visitor erasure job (not a layer of the day's assets)
    return dg.Definitions.merge(*layers, dg.Definitions(resources=resources, executor=dg.in_process_executor))


def from_environment() -> dg.Definitions:
    """The definitions a deployment's environment describes (settings validated now, secrets read at run time)."""
    sealed_keys = dg.EnvVar(SEALED_KEYS_ENV) if secret(SEALED_KEYS_ENV) else ""  # optional: unset is no error
    return build_definitions(Settings.from_env(), sealed_keys=sealed_keys)


@dg.definitions
def defs() -> dg.Definitions:
    return from_environment()
