"""Helpers of the unit tests: a throw-away EC P-256 key and self-signed certificate naming an
enterprise (like a demo e-key's), and the import of the stack driver's modules."""

from __future__ import annotations

import importlib
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_cert(code: str = "1100776367555") -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "示例 e-key"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, code),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, code),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def devstack_module(name: str) -> ModuleType:
    """``devstack.NAME``, imported from scripts/ (put on sys.path for the test session)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.append(str(SCRIPTS))
    return importlib.import_module(f"devstack.{name}")
