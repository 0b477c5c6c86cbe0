"""Test certificates made at test time: a CA, and leaf certificates it signs.

    ca = CA.create(dir)                       # ECDSA P-256 root; ca.cert_path for --cacert
    leaf = ca.issue(dir, "api", ["api.example.test", "*.api.example.test"],
                    key_type="ec"|"rsa", serial=1234, expired=False)
    leaf.cert_path, leaf.key_path, leaf.serial

Client certificates (mutual TLS) and revocation lists:

    partner = ca.issue_client(dir, "partner-a", cn="partner-a.example.test", org="Partner A",
                              dns=["partner-a.example.test"], uris=["spiffe://partners/a"],
                              expired=False)          # clientAuth EKU; partner.fingerprint
    crl = ca.write_crl(dir / "ca.crl.pem", revoked=[partner.serial])   # PEM "X509 CRL"
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key(key_type: str):
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(key_type)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _validity(expired: bool, days: int) -> tuple[dt.datetime, dt.datetime]:
    """notBefore and notAfter: ended yesterday when `expired`, else from an hour ago for `days`."""
    now = dt.datetime.now(dt.timezone.utc)
    if expired:
        return now - dt.timedelta(days=10), now - dt.timedelta(days=1)
    return now - dt.timedelta(hours=1), now + dt.timedelta(days=days)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass
class Leaf:
    cert_path: Path
    key_path: Path
    serial: int
    names: list[str]
    cert: x509.Certificate
    cert_pem: bytes
    key_pem: bytes

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the certificate's DER, 64 lowercase hex digits (as the proxy reports it)."""
        return hashlib.sha256(self.der).hexdigest()

    def write_to(self, cert_path: Path, key_path: Path) -> None:
        """Put this pair at other paths (atomic rename each), e.g. to rotate in place."""
        _write_atomic(Path(key_path), self.key_pem)
        _write_atomic(Path(cert_path), self.cert_pem)


class CA:
    def __init__(self, key, cert: x509.Certificate, cert_path: Path):
        self.key, self.cert, self.cert_path = key, cert, cert_path

    @classmethod
    def create(cls, directory: Path, name: str = "staticedge e2e test CA") -> "CA":
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        key = _key("ec")
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(subject).issuer_name(subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=True, crl_sign=True,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        path = directory / "ca.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(key, cert, path)

    def issue(self, directory: Path, stem: str, names: list[str], *, key_type: str = "ec",
              serial: int | None = None, expired: bool = False, days: int = 90) -> Leaf:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        key = _key(key_type)
        nb, na = _validity(expired, days)
        serial = serial if serial is not None else x509.random_serial_number()
        cn = names[0] if names else stem
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                .issuer_name(self.cert.subject)
                .public_key(key.public_key())
                .serial_number(serial)
                .not_valid_before(nb).not_valid_after(na)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = _key_pem(key)
        cert_path, key_path = directory / f"{stem}.fullchain.pem", directory / f"{stem}.key.pem"
        leaf = Leaf(cert_path, key_path, serial, list(names), cert, cert_pem, key_pem)
        leaf.write_to(cert_path, key_path)
        return leaf


    def issue_client(self, directory: Path, stem: str, *, cn: str, org: str | None = None,
                     dns: list[str] = (), uris: list[str] = (), serial: int | None = None,
                     expired: bool = False, days: int = 30) -> Leaf:
        """A client certificate (clientAuth EKU) with subject CN (and O), DNS and URI SANs.
        `names` of the Leaf holds the DNS SANs."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        key = _key("ec")
        nb, na = _validity(expired, days)
        serial = serial if serial is not None else x509.random_serial_number()
        # O before CN, as real certificates order them: RFC 4514 prints "CN=...,O=..."
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
        sans = [x509.DNSName(n) for n in dns] + [x509.UniformResourceIdentifier(u) for u in uris]
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name(attrs))
             .issuer_name(self.cert.subject)
             .public_key(key.public_key())
             .serial_number(serial)
             .not_valid_before(nb).not_valid_after(na)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                          key_encipherment=False, data_encipherment=False,
                                          key_agreement=False, key_cert_sign=False, crl_sign=False,
                                          encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                            critical=False))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = b.sign(self.key, hashes.SHA256())
        leaf = Leaf(directory / f"{stem}.cert.pem", directory / f"{stem}.key.pem", serial, list(dns),
                    cert, cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))
        leaf.write_to(leaf.cert_path, leaf.key_path)
        return leaf

    def crl(self, revoked: list[int] = (), *, next_update_days: int = 7) -> x509.CertificateRevocationList:
        """A CRL signed by this CA listing the given serial numbers as revoked now."""
        now = dt.datetime.now(dt.timezone.utc)
        b = (x509.CertificateRevocationListBuilder()
             .issuer_name(self.cert.subject)
             .last_update(now - dt.timedelta(minutes=5))
             .next_update(now + dt.timedelta(days=next_update_days))
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                            critical=False)
             .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False))
        for serial in revoked:
            b = b.add_revoked_certificate(x509.RevokedCertificateBuilder()
                                          .serial_number(serial)
                                          .revocation_date(now - dt.timedelta(minutes=1))
                                          .build())
        return b.sign(self.key, hashes.SHA256())

    def write_crl(self, path: Path, revoked: list[int] = (), **kw) -> Path:
        """The CRL of `crl()` as PEM ("X509 CRL") at `path`, replaced atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, self.crl(revoked, **kw).public_bytes(serialization.Encoding.PEM))
        return path


def bundle(path: Path, *cas: "CA") -> Path:
    """Several CA certificates in one PEM file (a client_ca that trusts each of them)."""
    path = Path(path)
    _write_atomic(path, b"".join(c.cert.public_bytes(serialization.Encoding.PEM) for c in cas))
    return path


def serial_of_der(der: bytes) -> int:
    return x509.load_der_x509_certificate(der).serial_number


def serial_of_pem(pem: bytes | str) -> int:
    if isinstance(pem, str):
        pem = pem.encode()
    return x509.load_pem_x509_certificate(pem).serial_number


def sans_of_pem(pem: bytes | str) -> list[str]:
    if isinstance(pem, str):
        pem = pem.encode()
    c = x509.load_pem_x509_certificate(pem)
    return c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
