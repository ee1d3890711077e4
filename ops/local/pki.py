"""The local control plane's PKI: one CA, the API server's serving certificate, a client certificate
per component (RBAC identity in CN/O, as kubeadm issues them) and the service-account signing key."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)  # a cluster is kept until `down`; a year outlives any of them
# Names the API server answers to from this machine and, as kubernetes.default, from inside the cluster.
SERVING_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local")


@dataclass(frozen=True)
class ClientIdentity:
    file: str  # base name of the .crt/.key pair
    user: str  # CN: the user name RBAC sees
    group: str = ""  # O: the group RBAC sees


CLIENTS = (
    ClientIdentity("admin", "doc-rag-local-admin", "system:masters"),
    ClientIdentity("controller-manager", "system:kube-controller-manager"),
    ClientIdentity("scheduler", "system:kube-scheduler"),
    ClientIdentity("kwok", "kwok-controller", "system:masters"),
    ClientIdentity("apiserver-etcd-client", "kube-apiserver-etcd-client"),
)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def write_private(path: Path, data: bytes) -> None:
    """Created 0600 from the start: never readable by others, even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, organization: str = "") -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _issue(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
           issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool = False,
           usages: tuple = (), sans: list[x509.GeneralName] | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=not ca, key_cert_sign=ca,
                                            crl_sign=ca, content_commitment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False, decipher_only=False),
                              critical=True))
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def generate(target: Path, service_ip: str) -> None:
    """Write ca.crt, apiserver.crt/key, etcd.crt/key, <client>.crt/key and sa.key/sa.pub into `target`,
    all or nothing: built beside it and renamed into place."""
    pki = target.with_name(target.name + ".new")
    shutil.rmtree(pki, ignore_errors=True)
    pki.mkdir(parents=True)
    ca_key = _key()
    ca_name = _name("doc-rag-local-ca")
    _write_key(pki / "ca.key", ca_key)
    _write_cert(pki / "ca.crt", _issue(ca_name, ca_key, ca_name, ca_key, ca=True))

    server_key = _key()
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in SERVING_NAMES]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", service_ip)]
    _write_key(pki / "apiserver.key", server_key)
    _write_cert(pki / "apiserver.crt", _issue(_name("kube-apiserver"), server_key, ca_name, ca_key,
                                              usages=(ExtendedKeyUsageOID.SERVER_AUTH,), sans=sans))
    etcd_key = _key()
    _write_key(pki / "etcd.key", etcd_key)
    _write_cert(pki / "etcd.crt", _issue(_name("etcd"), etcd_key, ca_name, ca_key, usages=(
        ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),  # peers authenticate each other
        sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]))

    for client in CLIENTS:
        key = _key()
        _write_key(pki / f"{client.file}.key", key)
        _write_cert(pki / f"{client.file}.crt", _issue(_name(client.user, client.group), key, ca_name, ca_key,
                                                       usages=(ExtendedKeyUsageOID.CLIENT_AUTH,)))

    signing_key = _key()
    _write_key(pki / "sa.key", signing_key)
    (pki / "sa.pub").write_bytes(signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    shutil.rmtree(target, ignore_errors=True)  # an incomplete set from an interrupted run
    pki.rename(target)
