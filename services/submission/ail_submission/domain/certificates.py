"""Which enterprise a signing certificate names, and its subject (X.509 parsing, no I/O)."""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import NameOID

_CODE = re.compile(r"(?<!\d)\d{13}(?!\d)")


def enterprise_codes_of(certificate_pem: str, subject: str = "") -> list[str]:
    """The 13-digit enterprise codes a certificate names in O= or serialNumber= (or, failing
    a readable certificate, anywhere in the subject string)."""
    codes: list[str] = []
    if certificate_pem:
        try:
            cert = x509.load_pem_x509_certificate(certificate_pem.encode())
            for oid in (NameOID.ORGANIZATION_NAME, NameOID.SERIAL_NUMBER):
                for attr in cert.subject.get_attributes_for_oid(oid):
                    value = str(attr.value)
                    if _CODE.fullmatch(value) and value not in codes:
                        codes.append(value)
            if codes:
                return codes
        except ValueError:
            pass
    return list(dict.fromkeys(_CODE.findall(subject)))


def subject_of(certificate_pem: str, fallback: str = "") -> str:
    if not certificate_pem:
        return fallback
    try:
        return x509.load_pem_x509_certificate(certificate_pem.encode()).subject.rfc4514_string()
    except ValueError:
        return fallback
