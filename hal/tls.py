"""TLS to the acquirer host, the same way under CPython and MicroPython.

    tls = HostTls("/etc/pos/acquirer.pem", pin="9f86d0...")   # settings host_tls, host_tls_pin
    reader, writer = await open_stream(host, port, tls)       # TlsError if the host is not the one

`trust_path` is a PEM (or DER) file: the acquirer's CA, or the host's own
certificate. The host must present a chain to it and its name (or IP
address) must match `host`. `pin`, optional, is the SHA-256 (hex) of the
host's DER certificate, which must match besides.

What the interpreters can do (checked on MicroPython 1.29's unix port,
Mbed TLS 3.6): both verify the chain and the host name. MicroPython's
load_verify_locations takes one DER certificate, not PEM and not a bundle
(so the first certificate of the file is the trust anchor there), and its
SSL socket has no getpeercert(): the pin cannot be compared with what the
host sent. There, a pin is accepted only if it is the SHA-256 of the trust
anchor itself (the host's own certificate as host_tls), which pins the
host just as well; any other pin is refused before connecting. CPython
compares the pin with the certificate the host presented.
"""

from hal.compat import asyncio, hexlify, open_connection, sha256
from hal.errors import TlsError

__all__ = ["HostTls", "TlsError", "der_certificates", "is_tls_failure", "open_stream"]


def der_certificates(data):
    """The DER certificates in a PEM file's bytes (or the one DER file)."""
    import binascii
    if b"-----BEGIN" not in data:
        return [bytes(data)]
    found = []
    inside = False
    body = []
    for line in data.split(b"\n"):
        line = line.strip()
        if line.startswith(b"-----BEGIN CERTIFICATE"):
            inside, body = True, []
        elif line.startswith(b"-----END CERTIFICATE"):
            inside = False
            found.append(binascii.a2b_base64(b"".join(body)))
        elif inside:
            body.append(line)
    return found


def _is_cpython_ssl(ssl):
    return hasattr(ssl, "create_default_context")


class HostTls:
    def __init__(self, trust_path, pin=""):
        self.trust_path = trust_path
        self.pin = (pin or "").lower()

    def _anchors(self):
        try:
            with open(self.trust_path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise TlsError("cannot read host_tls %s: %s" % (self.trust_path, e))
        anchors = der_certificates(data)
        if not anchors:
            raise TlsError("no certificate in host_tls %s" % self.trust_path)
        return anchors

    def context(self):
        """A client SSLContext that requires the host's certificate."""
        import ssl
        anchors = self._anchors()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            if _is_cpython_ssl(ssl):
                context.load_verify_locations(cadata=b"".join(anchors))
            else:
                if self.pin and hexlify(sha256(anchors[0])) != self.pin:
                    raise TlsError("this interpreter cannot read the host's certificate: pin the host "
                                   "by giving its own certificate as host_tls (its SHA-256 as the pin)")
                context.load_verify_locations(cadata=anchors[0])
        except ValueError as e:
            raise TlsError("host_tls %s: %s" % (self.trust_path, e))
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def check_peer(self, der):
        """`der`: the host's certificate, or None where the interpreter
        cannot tell (then the pin was checked against the trust anchor)."""
        if self.pin and der is not None and hexlify(sha256(der)) != self.pin:
            raise TlsError("host certificate does not match the pinned SHA-256")


def is_tls_failure(e):
    """A handshake or verification failure, as opposed to no connection."""
    try:
        import ssl
        if _is_cpython_ssl(ssl):
            return isinstance(e, ssl.SSLError) or isinstance(e, ssl.CertificateError)
    except ImportError:
        return False
    # MicroPython: verification errors are ValueError; Mbed TLS errors are
    # OSError with a negative code.
    return isinstance(e, ValueError) or (isinstance(e, OSError) and e.args and e.args[0] < 0)


async def open_stream(host, port, tls=None):
    """asyncio streams to host:port, over TLS when `tls` (a HostTls) is
    given. A refused certificate raises TlsError; other failures are left
    to the caller (OSError). CPython completes the handshake here;
    MicroPython's asyncio does it at the first write (hal.modem.Link.send
    turns its failure into TlsError too)."""
    if tls is None:
        return await open_connection(host, port)
    context = tls.context()
    try:
        reader, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host)
    except Exception as e:  # noqa: BLE001 - sorted below: refused certificate or no connection
        if is_tls_failure(e):
            raise TlsError("host certificate rejected: %s" % e)
        raise
    try:
        tls.check_peer(_peer_certificate(writer))
    except TlsError:
        writer.close()
        raise
    return reader, writer


def _peer_certificate(writer):
    try:
        ssl_object = writer.get_extra_info("ssl_object")
    except (AttributeError, KeyError):
        return None
    if ssl_object is None:
        return None
    return ssl_object.getpeercert(True)
