"""HTTP of the signer host: operations look here to see which e-keys it holds now. Internal:
the entry point does not route to it (the list is announced over Kafka for the platform)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ail_shared.auth import ServiceCredential
from ail_signer.entrypoints.deps import SignerDeps

# Internal (operations, tests): the service credential, like every internal router.
router = APIRouter(prefix="/api/v1/signer", tags=["signer", "internal"], dependencies=[ServiceCredential])


@router.get("/keys", summary="E-keys held by this signer host now")
async def list_keys(deps: SignerDeps) -> dict[str, Any]:
    host = deps.host
    return {
        "host_id": host.host_id,
        "scanned_at": host.scanned_at,
        "keys": [
            {
                "serial": k.serial,
                "label": k.label,
                "subject": k.subject,
                "algorithm": k.algorithm,
                "status": k.status,
                "certificate_pem": k.certificate_pem,
            }
            for k in host.keys
        ],
    }
