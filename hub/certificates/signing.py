"""The hub's certificate-signing identity and PDF signatures (pyHanko).

The hub issues itself an ECDSA P-256 signing certificate (self-signed, ``cryptography``) and keeps the
private key sealed in the hub DB with the key-encryption key, like the token signing keys
(hub/identity/keys.py). A PDF reader that is told to trust this certificate (or a province that
replaces it with one from its CA, loaded the same way) shows any edit after signing; the public
verification page is the check that needs no trust setup.

SM2 is not used for the PDF signature: ``cryptography`` has no SM2 (DOMAIN.md §6.3) and common PDF
readers do not verify SM2 signatures; the verification code is HMAC-SM3.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from hub.db import WriteConnection
from hub.identity.crypto import seal, unseal

SIGNER_VALID_YEARS = 10
FIELD_NAME = "HubSeal"


class SignerKeyError(RuntimeError):
    """The key-encryption key in the settings does not open the stored certificate-signing key."""


@dataclass(frozen=True)
class SigningIdentity:
    key_id: str
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @property
    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def signer(self) -> signers.SimpleSigner:
        cert = asn1_x509.Certificate.load(self.certificate_der)
        der = self.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return signers.SimpleSigner(
            signing_cert=cert,
            signing_key=asn1_keys.PrivateKeyInfo.load(der),
            cert_registry=SimpleCertificateStore.from_certs([cert]),  # type: ignore[no-untyped-call]
        )


def new_identity(now: datetime, issuer_name: str) -> SigningIdentity:
    """A fresh self-signed signing certificate valid for ``SIGNER_VALID_YEARS`` from ``now``."""
    key = ec.generate_private_key(ec.SECP256R1())
    key_id = secrets.token_hex(8)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, issuer_name),
            x509.NameAttribute(NameOID.COMMON_NAME, f"参保证明电子签章 {key_id}"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365 * SIGNER_VALID_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return SigningIdentity(key_id, cert, key)


async def load_identity(conn: WriteConnection, kek: str) -> SigningIdentity | None:
    """The newest live signing identity, or None when there is none yet."""
    cur = await conn.execute(
        "select key_id, certificate_der, private_key from hub.certificate_signer "
        "where retired_at is null order by created_at desc, key_id limit 1"
    )
    row = await cur.fetchone()
    if row is None:
        return None
    key_id, cert_der, sealed = row
    try:
        der = unseal(kek, bytes(sealed), key_id.encode())
    except InvalidTag:
        raise SignerKeyError(
            "the stored certificate-signing key cannot be decrypted with HUB_AUTH__KEY_ENCRYPTION_KEY"
        ) from None
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SignerKeyError("the stored certificate-signing key is not an EC key")
    return SigningIdentity(key_id, x509.load_der_x509_certificate(bytes(cert_der)), key)


async def rotate_identity(conn: WriteConnection, kek: str, now: datetime, issuer_name: str) -> SigningIdentity:
    """Add a new signing identity and retire the others (their certificates stay stored). Never commits."""
    identity = new_identity(now, issuer_name)
    der = identity.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    await conn.execute("update hub.certificate_signer set retired_at = %s where retired_at is null", (now,))
    await conn.execute(
        "insert into hub.certificate_signer (key_id, created_at, certificate_der, private_key) values (%s, %s, %s, %s)",
        (identity.key_id, now, identity.certificate_der, seal(kek, der, identity.key_id.encode())),
    )
    return identity


async def ensure_identity(conn: WriteConnection, kek: str, now: datetime, issuer_name: str) -> SigningIdentity:
    """The live identity, creating the first one if there is none (serialised by an advisory lock). Commits."""
    found = await load_identity(conn, kek)
    if found is not None:
        return found
    await conn.execute("select pg_advisory_xact_lock(hashtext('hub.certificate_signer'))")
    found = await load_identity(conn, kek)
    if found is None:
        found = await rotate_identity(conn, kek, now, issuer_name)
    await conn.commit()
    return found


async def sign_pdf(pdf: bytes, identity: SigningIdentity, *, reason: str, location: str) -> bytes:
    """Sign ``pdf`` (an approval signature over the whole file, no later change allowed)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        reason=reason,
        location=location,
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
    )
    out = await signers.async_sign_pdf(writer, meta, signer=identity.signer())
    data: bytes = out.getvalue()
    return data


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of validating a certificate's PDF signature against the hub's signing certificate."""

    present: bool
    intact: bool  # the signed bytes are unchanged
    trusted: bool  # signed by the given signing certificate
    covers_document: bool  # nothing was appended after signing

    @property
    def ok(self) -> bool:
        return self.present and self.intact and self.trusted and self.covers_document


async def check_pdf(pdf: bytes, trusted_der: bytes) -> SignatureCheck:
    """Validate the signature of ``pdf`` with pyHanko, trusting only ``trusted_der``."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        sigs = reader.embedded_signatures
    except Exception:  # a file too damaged to parse has no valid signature
        return SignatureCheck(False, False, False, False)
    if not sigs:
        return SignatureCheck(False, False, False, False)
    root = asn1_x509.Certificate.load(trusted_der)
    context = ValidationContext(trust_roots=[root], allow_fetching=False)
    status: Any = await async_validate_pdf_signature(sigs[0], context)
    modification = getattr(status, "modification_level", None)
    covers = status.coverage is not None and status.coverage.name == "ENTIRE_FILE"
    untouched = modification is None or modification.name == "NONE"
    return SignatureCheck(True, bool(status.intact and status.valid), bool(status.trusted), covers and untouched)
