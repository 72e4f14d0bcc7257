"""Helpers shared by test folders (not fixtures: plain functions)."""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def micropython_path():
    """The MicroPython interpreter: $MICROPYTHON, beside this python (the tox
    env's bin), or on PATH; None if there is none."""
    for candidate in (os.environ.get("MICROPYTHON"),
                      os.path.join(os.path.dirname(sys.executable), "micropython"),
                      shutil.which("micropython")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def run_script(interpreter, script, timeout=60):
    """Run `script` with `interpreter -c` from the repository root; -> stdout.
    A failure shows what the interpreter printed."""
    result = subprocess.run([interpreter, "-c", script], cwd=ROOT, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def make_test_certificate(directory, name="127.0.0.1"):
    """A self-signed certificate for `name` (an IP address or a DNS name)
    and its key, written as PEM into `directory`, for a host simulator that
    serves TLS. -> (cert_path, key_path, sha256 hex of the DER certificate)."""
    import datetime
    import hashlib
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    try:
        alt = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        alt = x509.DNSName(name)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path = os.path.join(str(directory), "%s.crt" % name)
    key_path = os.path.join(str(directory), "%s.key" % name)
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    der = cert.public_bytes(serialization.Encoding.DER)
    return cert_path, key_path, hashlib.sha256(der).hexdigest()
