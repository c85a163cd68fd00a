"""The lab CA: one self-signed CA and a server certificate per lab service, so TLS is always verified."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
from collections.abc import Sequence
from typing import Any

from .base import Lab, Layer, write_private

DAYS = 30


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ironcloud lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(directory: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = _name("ironcloud lab CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(
        os.path.join(directory, "ca.key"),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )
    with open(os.path.join(directory, "ca.crt"), "w", encoding="utf-8") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM).decode())


def issue(directory: str, name: str, hosts: Sequence[str]) -> dict[str, str]:
    """A server certificate for hosts (IP addresses or DNS names), signed by the lab CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    with open(os.path.join(directory, "ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    with open(os.path.join(directory, "ca.crt"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    key = ec.generate_private_key(ec.SECP256R1())
    sans = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    certfile = os.path.join(directory, name + ".crt")
    keyfile = os.path.join(directory, name + ".key")
    with open(certfile, "w", encoding="utf-8") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM).decode())
    write_private(
        keyfile,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )
    return {"cert": certfile, "key": keyfile}


class Pki(Layer):
    name = "pki"

    def up(self, lab: Lab) -> None:
        directory = os.path.dirname(lab.path("pki", "ca.crt"))
        if not os.path.exists(os.path.join(directory, "ca.crt")):
            make_ca(directory)
        ca = os.path.join(directory, "ca.crt")
        lab.publish(
            self.name,
            env={"IRONCLOUD_LAB_CA": ca},
            inventory={"all": {"vars": {"ironcloud_lab_ca": ca}}},
            dir=directory,
            ca=ca,
        )

    def down(self, lab: Lab) -> None:
        shutil.rmtree(os.path.join(lab.dir, "pki"), ignore_errors=True)

    def status(self, lab: Lab) -> dict[str, Any]:
        return {"up": os.path.exists(os.path.join(lab.dir, "pki", "ca.crt"))}
