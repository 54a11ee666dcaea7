"""The `forget_visitors` job: the right to erasure from Dagster, the same code as `./fpwh forget-visitor`.

An op job, not an asset: it materializes nothing, it removes. Its run config lists the visitor IDs (and `api: true`
to delete them upstream as well, `DELETE /visitors/{visitor_id}`); its output metadata holds counts only. The run
config itself stays in Dagster's run storage: delete the run (`dagster run delete <id>`) when the IDs must go
from there too.
"""

import dagster as dg

from pipelines.erasure import forget_visitors
from pipelines.resources import FingerprintApiResource, WarehouseResource

FORGET_JOB = "forget_visitors"


class ForgetConfig(dg.Config):
    """Which visitors to erase, and whether to delete them upstream through the Server API too."""

    visitor_ids: list[str]
    api: bool = False


@dg.op(out=dg.Out(dg.Nothing))
def forget_visitors_op(
    context: dg.OpExecutionContext,
    config: ForgetConfig,
    warehouse: WarehouseResource,
    fingerprint_api: FingerprintApiResource,
) -> dg.Output:
    """Remove every trace of the visitors from the warehouse (`pipelines.erasure`) and audit it in `fpwh_erasures`."""
    store = warehouse.store()
    if config.api:
        with fingerprint_api.client(store.state) as client:
            report = forget_visitors(store, config.visitor_ids, client, log=context.log.info)
    else:
        report = forget_visitors(store, config.visitor_ids, log=context.log.info)
    return dg.Output(None, metadata=report.metadata())


@dg.job(name=FORGET_JOB, description="Erase visitors from the warehouse (run config: visitor_ids, api).")
def forget_visitors_job() -> None:
    forget_visitors_op()


def definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[forget_visitors_job])
