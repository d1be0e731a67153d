"""The wire format of e-key signatures (``ApplicationSigned``), and a verifier for it.

``ApplicationSigned.algorithm`` names how ``signature`` was made over the canonical bytes
(:mod:`ail_shared.canonical`); ``signature`` is base64 (standard alphabet, padded):

=========================  =====================================================================
``ecdsa-p256-sha256``      ECDSA over P-256 with SHA-256; the signature is DER
                           (``SEQUENCE { r INTEGER, s INTEGER }``, RFC 3279), as
                           ``openssl dgst -sha256 -verify`` reads it. The token returns raw
                           ``r || s``; the signer converts it.
``rsa-pkcs1v15-sha256``    RSASSA-PKCS1-v1_5 with SHA-256 (``CKM_SHA256_RSA_PKCS``).
=========================  =====================================================================

The certificate is the one on the token beside the key (PEM in the event), so a verifier
checks ``verify(certificate_pem, algorithm, canonical_bytes, signature_b64)``.
"""

from __future__ import annotations

import base64
import binascii

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

__all__ = ["ECDSA_P256_SHA256", "RSA_PKCS1V15_SHA256", "ALGORITHMS", "verify"]

ECDSA_P256_SHA256 = "ecdsa-p256-sha256"
RSA_PKCS1V15_SHA256 = "rsa-pkcs1v15-sha256"
ALGORITHMS = (ECDSA_P256_SHA256, RSA_PKCS1V15_SHA256)


def verify(certificate_pem: str, algorithm: str, data: bytes, signature_b64: str) -> bool:
    """True when ``signature_b64`` is a valid ``algorithm`` signature of ``data`` by the key of
    ``certificate_pem``. False for a wrong signature, an unknown algorithm, a key type that does
    not match the algorithm, or undecodable input; never raises for bad input."""
    try:
        cert = x509.load_pem_x509_certificate(certificate_pem.encode())
        signature = base64.b64decode(signature_b64, validate=True)
    except (ValueError, binascii.Error):
        return False
    key = cert.public_key()
    try:
        if algorithm == ECDSA_P256_SHA256 and isinstance(key, ec.EllipticCurvePublicKey):
            if key.curve.name != "secp256r1":
                return False
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            return True
        if algorithm == RSA_PKCS1V15_SHA256 and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            return True
    except InvalidSignature:
        return False
    return False
