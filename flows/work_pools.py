"""Create what the deployments in prefect.yaml need on a Prefect server: the work pools, the GPU limits and the
automation that marks a dead machine's flow runs Crashed.

`python -m flows.work_pools [--gpu-limits gpu ...] [--crashed-after 90]` (`make prefect-setup`), with
PREFECT_API_URL pointing at the server. Idempotent: running it again changes nothing.
- work pools `cpu` (the pipeline: data, classifier, evaluation, registration, report) and `gpu` (trainings), both
  of type `process` (a worker runs each flow run as a subprocess of itself); their flow runs send a heartbeat
  every HEARTBEAT_SECONDS (set in the pools' environment, so every worker's runs do, however it was started);
- one global concurrency limit of 1 slot per GPU: a training holds the slot named by its worker's `GAN_GPU_LIMIT`
  (default `gpu`) while it trains, so two trainings never share a device;
- the automation of Prefect's "detect zombie flows" guide, for this project's flows: a flow run whose heartbeats
  stop for `--crashed-after` seconds (its machine died: a killed worker leaves it Running forever) is marked
  Crashed, and the pipeline dispatches a crashed training again, to another GPU worker (flows/pipeline.py).
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.workers.process import ProcessWorker

import flows  # noqa: F401  (Prefect's embedded defaults)

WORK_POOLS = ("cpu", "gpu")
DEFAULT_GPU_LIMIT = "gpu"  # a machine with one GPU
# Prefect's minimum (its default is 180 s): a dead machine is noticed within CRASHED_AFTER_SECONDS, not minutes
HEARTBEAT_SECONDS = 30
CRASHED_AFTER_SECONDS = 90  # three missed heartbeats, as Prefect's guide has it: a busy machine is not a dead one
CRASH_AUTOMATION = "gan-pipeline: crash flow runs whose heartbeats stopped"
# only this project's flows: others on the same server may beat at Prefect's default 180 s and are not ours to crash
FLOWS = ("gan-pipeline", "train-variant")


def create_work_pools_and_limits(gpu_limits: list[str], crashed_after: int = CRASHED_AFTER_SECONDS) -> None:
    template = ProcessWorker.get_default_base_job_template()
    template["variables"]["properties"]["env"]["default"] = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS)}
    with get_client(sync_client=True) as client:
        for pool in WORK_POOLS:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process", base_job_template=template),
                                    overwrite=True)
        for name in gpu_limits:
            client.upsert_global_concurrency_limit_by_name(name, limit=1)
        upsert_crash_automation(client, crashed_after)


def upsert_crash_automation(client: SyncPrefectClient, crashed_after: int) -> None:
    """Prefect's zombie-flow automation: after a heartbeat, no heartbeat nor final state for `crashed_after` s ->
    Crashed. A final state ends the watch, and a run already final is not changed (the move is not forced)."""
    if crashed_after <= HEARTBEAT_SECONDS:
        raise ValueError(f"--crashed-after {crashed_after} s must exceed the heartbeat interval ({HEARTBEAT_SECONDS} s)")
    automation = AutomationCore(
        name=CRASH_AUTOMATION,
        description=f"A flow run of {', '.join(FLOWS)} silent for {crashed_after} s lost its machine (flows/work_pools.py).",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{state}"
                                                    for state in ("Completed", "Failed", "Cancelled", "Crashed"))},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=ResourceSpecification({"prefect.resource.role": "flow", "prefect.resource.name": list(FLOWS)}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=crashed_after),
        ),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message=f"no heartbeat for {crashed_after} s: its machine or worker died")],
    )
    existing = client.read_automations_by_name(CRASH_AUTOMATION)
    if existing:
        client.update_automation(existing[0].id, automation)
    else:
        client.create_automation(automation)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.work_pools", description=__doc__.splitlines()[0])
    parser.add_argument("--gpu-limits", nargs="+", default=[DEFAULT_GPU_LIMIT],
                        help="one limit name per GPU, e.g. gpu-node1-0 gpu-node1-1 (default: %(default)s)")
    parser.add_argument("--crashed-after", type=int, default=CRASHED_AFTER_SECONDS, metavar="SECONDS",
                        help=f"mark a flow run Crashed after this long without a heartbeat (they come every "
                             f"{HEARTBEAT_SECONDS} s; default: %(default)s)")
    args = parser.parse_args(argv)
    create_work_pools_and_limits(args.gpu_limits, args.crashed_after)
    print(f"work pools: {', '.join(WORK_POOLS)} (heartbeat every {HEARTBEAT_SECONDS} s); GPU concurrency limits "
          f"(1 slot each): {', '.join(args.gpu_limits)}; silent flow runs Crashed after {args.crashed_after} s")


if __name__ == "__main__":
    main()
