"""What was signed, for audit (issue 12, item 5): for each signed submission of an application,
the canonical bytes the e-key signed, the signature, its algorithm and the certificate, so that
anyone can check them with their own tools (docs/submission.md, "Checking a signature")."""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ail_shared.errors import NotFound
from ail_shared.http import CurrentTenant, Pool
from ail_shared.openapi import errors
from ail_shared.signatures import ECDSA_P256_SHA256, RSA_PKCS1V15_SHA256
from ail_submission.adapters import queries
from ail_submission.domain.model import Submission

router = APIRouter(prefix="/api/v1", tags=["submission"])

# How each algorithm's signature is encoded (ail_shared.signatures): both are what
# ``openssl dgst -sha256 -verify`` reads as they are, so no conversion is needed.
SIGNATURE_FORMATS = {
    ECDSA_P256_SHA256: "der",  # ECDSA-Sig-Value, RFC 3279 (the token's raw r||s converted)
    RSA_PKCS1V15_SHA256: "pkcs1v15",
}
VERIFY = (
    "base64 -d payload > payload.bin; base64 -d signature > signature.bin;"
    " openssl x509 -in certificate.pem -pubkey -noout > pubkey.pem;"
    " openssl dgst -sha256 -verify pubkey.pem -signature signature.bin payload.bin"
)


class SignedContent(BaseModel):
    submission_id: UUID
    state: str = Field(description="signed, accepted or rejected (the submission's state)")
    form_no: str | None = Field(None, description="MOFCOM's form no., once it accepted the submission")
    payload: str = Field(
        description="the canonical bytes that were signed (RFC 8785 JSON of the submitted form), base64"
    )
    payload_sha256: str = Field(description="SHA-256 of the canonical bytes, hex")
    signature: str = Field(description="the e-key's signature over the canonical bytes, base64")
    algorithm: str = Field(examples=[ECDSA_P256_SHA256, RSA_PKCS1V15_SHA256])
    signature_format: Literal["der", "pkcs1v15", "unknown"] = Field(
        description="der: ECDSA-Sig-Value (RFC 3279); pkcs1v15: RSASSA-PKCS1-v1_5"
    )
    certificate_pem: str = Field(description="the certificate on the e-key beside the signing key")
    ekey_serial: str | None = None
    verify_with: str = Field(VERIFY, description="how a third party checks it with openssl")


class SignedContents(BaseModel):
    items: list[SignedContent] = Field(description="every signed submission, newest first")


def _view(sub: Submission) -> dict[str, Any]:
    payload = base64.b64decode(sub.payload_b64())
    algorithm = sub.algorithm or ""
    return {
        "submission_id": sub.submission_id,
        "state": sub.state,
        "form_no": sub.form_no,
        "payload": base64.b64encode(payload).decode(),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "signature": sub.signature or "",
        "algorithm": algorithm,
        "signature_format": SIGNATURE_FORMATS.get(algorithm, "unknown"),
        "certificate_pem": sub.certificate_pem or "",
        "ekey_serial": sub.ekey_serial,
    }


@router.get(
    "/applications/{application_id}/signed-content",
    summary="What was signed: canonical bytes, signature, algorithm, certificate",
    response_model=SignedContents,
    responses=errors(404, e404="no signed submission of this application for this tenant"),
)
async def get_signed_content(application_id: UUID, pool: Pool, tenant: CurrentTenant) -> Any:
    """For audit: every signed submission of the application (newest first), with the exact
    bytes the e-key signed, so that a third party can verify them with openssl (``verify_with``)
    without trusting this platform. Another tenant's application is not found."""
    subs = await queries.signed_submissions(
        pool, application_id=application_id, enterprise_codes=tenant.enterprise_codes
    )
    if not subs:
        raise NotFound(f"application {application_id} has no signed submission")
    return {"items": [_view(s) for s in subs]}
