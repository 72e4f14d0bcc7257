"""The firmware bundle: format and the device's checks (docs/FLASHING.md).

    b"POSBUNDLE1\\n"               magic, 11 bytes
    manifest length                4 bytes, big-endian
    manifest                       canonical JSON (sorted keys, no spaces), UTF-8
    signature                      64 bytes: Ed25519 over the manifest bytes
    payload                        every file of the manifest, in its order,
                                   concatenated, then compressed as one zlib
                                   stream ("compression": "zlib") or not ("none")

The manifest (everything the device trusts comes from here, signed):

    {"format": 1, "version": "1.2.0", "target": "pos-handset", "built": "2026-12-01T02:40:00Z",
     "key": "<key id>", "downgrade": false, "mpy": "6.3", "compression": "zlib",
     "payload": {"size": <bytes>, "sha256": "<hex>"},
     "data": {"journal": [1, 1, 1], "settings": [1, 1, 1], "keys": [1, 1, 1]},
     "files": [{"name": "firmware/app.mpy", "size": 1234, "sha256": "<hex>"}, ...]}

`data` gives, for each store outside the slots, the oldest and newest
format the build reads and the one it writes (firmware/update/formats.py).
Plain functions over bytes; the host side (hosttools/bundle.py) builds the
same layout.
"""

import json

from firmware.update import ed25519

MAGIC = b"POSBUNDLE1\n"
FORMAT = 1
SIGNATURE_SIZE = 64
MAX_MANIFEST = 64 * 1024
COMPRESSIONS = ("zlib", "none")


class BundleError(Exception):
    """A bundle the device refuses; the message says why and what to do."""


def canonical_json(value):
    """The one byte form of a manifest: what is signed is what is parsed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def key_id(public_key):
    """A public key's short name in manifests and trusted_keys.json: the
    first 8 bytes of its SHA-256, in hex."""
    import hashlib
    import binascii
    return binascii.hexlify(hashlib.sha256(bytes(public_key)).digest()[:8]).decode()


def header_size(data):
    """From the first 15 bytes: how long the header (magic .. signature) is."""
    if len(data) < len(MAGIC) + 4 or bytes(data[:len(MAGIC)]) != MAGIC:
        raise BundleError("not a firmware bundle (bad magic): build it with pos-bundle build")
    length = int.from_bytes(bytes(data[len(MAGIC):len(MAGIC) + 4]), "big")
    if length > MAX_MANIFEST:
        raise BundleError("bundle manifest too large (%d bytes)" % length)
    return len(MAGIC) + 4 + length + SIGNATURE_SIZE


def split_header(data):
    """The header bytes -> (manifest bytes, signature bytes, header size)."""
    size = header_size(data)
    if len(data) < size:
        raise BundleError("bundle header cut short (%d of %d bytes)" % (len(data), size))
    start = len(MAGIC) + 4
    manifest = bytes(data[start:size - SIGNATURE_SIZE])
    return manifest, bytes(data[size - SIGNATURE_SIZE:size]), size


def parse_manifest(manifest_bytes):
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError:
        raise BundleError("bundle manifest is not JSON")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError("bundle format not understood by this firmware: install a newer one first")
    for name in ("version", "target", "key", "compression", "payload", "files", "data"):
        if name not in manifest:
            raise BundleError("bundle manifest has no %s" % name)
    parse_version(manifest["version"])
    if manifest["compression"] not in COMPRESSIONS:
        raise BundleError("bundle compression %r not supported" % manifest["compression"])
    for entry in manifest["files"]:
        name = entry.get("name") if isinstance(entry, dict) else None
        if (not isinstance(name, str) or not name or name.startswith("/") or ".." in name.split("/")
                or not isinstance(entry.get("size"), int) or not isinstance(entry.get("sha256"), str)):
            raise BundleError("bundle manifest lists a bad file entry")
    return manifest


def parse_version(text):
    """'1.2.3' -> (1, 2, 3)."""
    parts = text.split(".") if isinstance(text, str) else []
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise BundleError("version %r is not X.Y.Z" % (text,))
    return (int(parts[0]), int(parts[1]), int(parts[2]))


def verify_header(header, trusted_keys):
    """Check the signature of a bundle header against the trusted keys
    ({key id: 32-byte public key}). -> (manifest dict, manifest bytes, signature)."""
    manifest_bytes, signature, _ = split_header(header)
    manifest = parse_manifest(manifest_bytes)
    public_key = trusted_keys.get(manifest["key"])
    if public_key is None:
        raise BundleError("bundle signed by an unknown key (%s): sign it with a key this handset trusts"
                          % manifest["key"])
    if not ed25519.verify(public_key, manifest_bytes, signature):
        raise BundleError("bundle signature is not valid: the bundle was changed or signed by another key")
    return manifest, manifest_bytes, signature


def check_fits(manifest, target, installed, mpy, data_formats):
    """Can this (signed) bundle go on this device? Raises BundleError why not.
    `installed`: the installed manifest (None on a blank device);
    `mpy`: the interpreter's .mpy version ("6.3"), None where .mpy cannot load;
    `data_formats`: what the installed build reads, from its manifest."""
    if manifest["target"] != target:
        raise BundleError("bundle is for %s, this handset is %s: build it with --target %s"
                          % (manifest["target"], target, target))
    if manifest.get("mpy") and mpy is not None and manifest["mpy"] != mpy:
        raise BundleError("bundle holds .mpy version %s, this handset's MicroPython loads %s: "
                          "build it with the mpy-cross that matches" % (manifest["mpy"], mpy))
    if installed is not None:
        new = parse_version(manifest["version"])
        old = parse_version(installed["version"])
        if new < old and not manifest.get("downgrade"):
            raise BundleError("bundle %s is older than the installed %s: refused (sign it as a "
                              "downgrade with pos-bundle build --downgrade to go back)"
                              % (manifest["version"], installed["version"]))
    from firmware.update.formats import check_compatible
    problem = check_compatible(data_formats, manifest["data"])
    if problem:
        raise BundleError(problem)
