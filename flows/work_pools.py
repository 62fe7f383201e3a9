"""Create what the deployments in prefect.yaml need on a Prefect server: the work pools and the GPU limits.

`python -m flows.work_pools [--gpu-limits gpu ...]` (`make prefect-setup`), with PREFECT_API_URL pointing at the
server. Idempotent: running it again changes nothing.
- work pools `cpu` (the pipeline: data, classifier, evaluation, registration, report) and `gpu` (trainings), both
  of type `process` (a worker runs each flow run as a subprocess of itself);
- one global concurrency limit of 1 slot per GPU: a training holds the slot named by its worker's `GAN_GPU_LIMIT`
  (default `gpu`) while it trains, so two trainings never share a device.
"""

from __future__ import annotations

import argparse

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.workers.process import ProcessWorker

import flows  # noqa: F401  (Prefect's embedded defaults)

WORK_POOLS = ("cpu", "gpu")
DEFAULT_GPU_LIMIT = "gpu"  # a machine with one GPU


def create_work_pools_and_limits(gpu_limits: list[str]) -> None:
    template = ProcessWorker.get_default_base_job_template()
    with get_client(sync_client=True) as client:
        for pool in WORK_POOLS:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process", base_job_template=template),
                                    overwrite=True)
        for name in gpu_limits:
            client.upsert_global_concurrency_limit_by_name(name, limit=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.work_pools", description=__doc__.splitlines()[0])
    parser.add_argument("--gpu-limits", nargs="+", default=[DEFAULT_GPU_LIMIT],
                        help="one limit name per GPU, e.g. gpu-node1-0 gpu-node1-1 (default: %(default)s)")
    args = parser.parse_args(argv)
    create_work_pools_and_limits(args.gpu_limits)
    print(f"work pools: {', '.join(WORK_POOLS)}; GPU concurrency limits (1 slot each): {', '.join(args.gpu_limits)}")


if __name__ == "__main__":
    main()
