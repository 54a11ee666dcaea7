"""The Dagster code location: every asset, check, job, schedule, sensor and resource of the warehouse.

`defs` is built when Dagster loads the code location (not at import), from settings validated at that moment:
a misconfiguration stops the load with one line per problem, naming the variable and the fix.
"""

from __future__ import annotations

import dagster as dg

from pipelines.defs import analytics, automation, ingest, silver, warehouse
from pipelines.defs.layer import Layer
from pipelines.resources import AppLogsResource, FingerprintApiResource, PrivacyResource, WarehouseResource
from pipelines.settings import PRIVACY_KEY_ENV, SECRET_KEY_ENV, Settings

SECRET_API_KEY = dg.EnvVar(SECRET_KEY_ENV)
PRIVACY_KEY = dg.EnvVar(PRIVACY_KEY_ENV)


def build_definitions(
    settings: Settings, secret_api_key: str | dg.EnvVar = SECRET_API_KEY, privacy_key: str | dg.EnvVar = PRIVACY_KEY
) -> dg.Definitions:
    """Every definition of the warehouse for `settings` (the keys are read from the environment at run time).

    The privacy key is only asked for when FPWH_IP_PRIVACY=hash: no other mode uses it.
    """
    layer = Layer.from_settings(settings)
    resources = {
        "warehouse": WarehouseResource(settings=settings.warehouse),
        "app_logs": AppLogsResource(settings=settings.logs),
        "fingerprint_api": FingerprintApiResource(secret_api_key=secret_api_key, settings=settings.api),
        "privacy": PrivacyResource(settings=settings.privacy, key=privacy_key if settings.privacy.ip == "hash" else ""),
    }
    layers = [module.definitions(layer) for module in (ingest, silver, warehouse, analytics, automation)]
    return dg.Definitions.merge(*layers, dg.Definitions(resources=resources))


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
