"""`python -m localcloud.azure`: run the emulator until SIGTERM/SIGINT.

Prints one JSON line when it is listening ({"url", "caFile", "pid", "tenantId", "subscriptionId",
"operatorClientId", "stateFile"}) so a launcher learns the port; readiness is then probed on
`/_emulator/health`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from localcloud.azure.config import ClusterSeed, EmulatorConfig, OperationDurations
from localcloud.azure.faults import FaultPlan
from localcloud.azure.server import AzureEmulator


def parse_args(argv: list[str] | None = None) -> EmulatorConfig:
    p = argparse.ArgumentParser(
        prog="python -m localcloud.azure",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, help="JSON file with EmulatorConfig fields (flags override it)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--state-file", type=Path)
    p.add_argument("--cert-dir", type=Path)
    p.add_argument("--hostname", action="append", default=[], help="extra name in the server certificate")
    p.add_argument("--issuer", help="the cluster's OIDC issuer URL (managedClusters issuerURL)")
    p.add_argument(
        "--issuer-ca",
        type=Path,
        action="append",
        default=[],
        help="CA bundle trusted when fetching issuers' discovery documents and JWKS",
    )
    p.add_argument("--tenant-id")
    p.add_argument("--subscription-id")
    p.add_argument("--location")
    p.add_argument("--resource-group", help="resource group of the pre-seeded cluster")
    p.add_argument("--cluster", help="name of the pre-seeded cluster")
    p.add_argument("--operator-client-id")
    p.add_argument(
        "--operator-secret", help="default: $AZURE_EMULATOR_OPERATOR_SECRET or a fixed local secret"
    )
    p.add_argument("--operation-seconds", type=float, help="duration of every long-running operation")
    p.add_argument("--replication-seconds", type=float, help="new principals' replication delay")
    p.add_argument("--realistic", action="store_true", help="AKS-like minutes-long operations")
    p.add_argument("--faults", type=Path, help="JSON fault plan file (the /_emulator/faults shape)")
    p.add_argument("--seed", type=int)
    p.add_argument("--log-level", default="WARNING")
    a = p.parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    base = json.loads(a.config.read_text()) if a.config else {}
    cfg = EmulatorConfig.realistic(**base) if a.realistic else EmulatorConfig.model_validate(base)
    for attr, value in (
        ("host", a.host),
        ("port", a.port),
        ("state_file", a.state_file),
        ("cert_dir", a.cert_dir),
        ("oidc_issuer_url", a.issuer),
        ("tenant_id", a.tenant_id),
        ("subscription_id", a.subscription_id),
        ("location", a.location),
        ("operator_client_id", a.operator_client_id),
        ("seed", a.seed),
        ("principal_replication_seconds", a.replication_seconds),
    ):
        if value is not None:
            setattr(cfg, attr, value)
    secret = a.operator_secret or os.environ.get("AZURE_EMULATOR_OPERATOR_SECRET")
    if secret:
        cfg.operator_client_secret = secret
    cfg.extra_hostnames += a.hostname
    cfg.issuer_ca_files += a.issuer_ca
    if a.operation_seconds is not None:
        cfg.durations = OperationDurations.uniform(a.operation_seconds)
    if a.resource_group or a.cluster:
        seed = cfg.clusters[0] if cfg.clusters else ClusterSeed()
        seed.resource_group = a.resource_group or seed.resource_group
        seed.name = a.cluster or seed.name
        cfg.clusters = [seed, *cfg.clusters[1:]]
        if seed.resource_group not in cfg.resource_groups:
            cfg.resource_groups.append(seed.resource_group)
    if a.faults:
        cfg.faults = FaultPlan.model_validate_json(a.faults.read_text())
    return cfg


async def serve(cfg: EmulatorConfig) -> None:
    emulator = AzureEmulator(cfg)
    await emulator.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        json.dumps(
            {
                "url": emulator.base_url,
                "caFile": str(emulator.ca_file),
                "pid": os.getpid(),
                "tenantId": cfg.tenant_id,
                "subscriptionId": cfg.subscription_id,
                "operatorClientId": cfg.operator_client_id,
                "stateFile": str(cfg.state_file) if cfg.state_file else None,
            }
        ),
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))
    sys.exit(0)


if __name__ == "__main__":
    main()
