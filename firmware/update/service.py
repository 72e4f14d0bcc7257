"""The device side of the update protocol (docs/FLASHING.md).

    service = UpdateService(boot, identity, app_ref)
    reply_frame = await service.answer(kind, payload)

Requests (JSON frames, "op") and what they do:

    hello      identity: model, serial, version, slot, trial, tries, good, free, protocol
    begin      {size, sha256, header (base64)}: checks the signed header (key, target,
               version, .mpy, data formats, space, idle) and opens or resumes the upload;
               -> received (bytes the device already holds) and their SHA-256
    (chunk)    C frame at offset == received: appended durably; -> received
    install    the whole upload verified (SHA-256, signature, every file's hash) and
               written to the inactive slot, which boots next on trial
    reboot     reboots when the terminal is idle (refused while it is busy)
    status     hello + the boot state record + the upload in progress
    mark_good  the trial slot becomes the good one (bench)
    rollback   back to the last good slot (bench); reboots
    abort      drops the upload in progress

Every refusal is a reply {"ok": false, "error": "<sentence: why, and what to do>"}.
The upload lives in upload/ beside the slots: upload/state.json (what is
being uploaded) and upload/bundle.part (the bytes so far, appended and
flushed chunk by chunk), so a cut cable or a power cut resumes where it
stopped: the running hash is rebuilt from the part file at the next begin.
"""

import json

from hal.compat import hexlify, open_inflate, unhexlify
from firmware import boot as bootstage
from firmware.update import bundle, proto

UPLOAD_STATE = "upload/state.json"
UPLOAD_PART = "upload/bundle.part"
TRUSTED_KEYS = "trusted_keys.json"
BLOCK = 4096


class Refused(Exception):
    """A request the device will not carry out; the message says why."""


def load_trusted_keys(flash):
    """trusted_keys.json: {"keys": {"<key id>": "<64 hex digits>"}} -> {id: bytes}."""
    data = flash.read(TRUSTED_KEYS)
    if not data:
        return {}
    keys = {}
    for name, value in json.loads(data).get("keys", {}).items():
        public = unhexlify(value)
        if bundle.key_id(public) == name:
            keys[name] = public
    return keys


def mpy_version():
    """The .mpy version this interpreter loads ("6.3"), None on CPython."""
    import sys
    value = getattr(sys.implementation, "_mpy", None)
    if value is None:
        return None
    return "%d.%d" % (value & 0xFF, (value >> 8) & 3)


def _sha256_file(f, start, end):
    import hashlib
    digest = hashlib.sha256()
    f.seek(start)
    left = end - start
    while left > 0:
        block = f.read(min(BLOCK, left))
        if not block:
            break
        digest.update(block)
        left -= len(block)
    return digest.digest()


class UpdateService:
    """`boot`: the firmware.boot.Boot of the running slot; `identity`:
    {"model", "serial", "target"}; `app_ref()`: the running App (for the
    busy check) or None; `mpy`: the .mpy version bundles must hold."""

    def __init__(self, boot, identity, app_ref=None, mpy=None, tries=bootstage.DEFAULT_TRIES):
        self.boot = boot
        self.flash = boot.flash
        self.identity = identity
        self.app_ref = app_ref or (lambda: None)
        self.mpy = mpy
        self.tries = tries
        self._trusted = None

    @property
    def trusted_keys(self):
        if self._trusted is None:
            self._trusted = load_trusted_keys(self.flash)
        return self._trusted

    async def answer(self, kind, payload):
        """One frame in -> the reply frame (bytes). Never raises."""
        request_id = None
        try:
            if kind == proto.KIND_CHUNK:
                result = self._chunk(payload)
            else:
                request = proto.decode_json(payload)
                request_id = request.get("id")
                handler = getattr(self, "_op_" + str(request.get("op")), None)
                if handler is None:
                    raise Refused("unknown update request %r" % (request.get("op"),))
                result = await handler(request)
            reply = {"ok": True}
            reply.update(result or {})
        except (Refused, bundle.BundleError, proto.FrameError) as e:
            reply = {"ok": False, "error": str(e)}
        except OSError as e:
            if e.args and e.args[0] == 28:
                reply = {"ok": False, "error": "no space left on the handset: free some (settle to "
                                               "compact the journal) or flash a smaller build"}
            else:
                reply = {"ok": False, "error": "storage error on the handset (%s): try again; if it "
                                               "persists, the handset needs service" % e}
        except Exception as e:  # noqa: BLE001 - the port must keep answering
            reply = {"ok": False, "error": "internal error on the handset (%s: %s): report it"
                                           % (type(e).__name__, e)}
        if request_id is not None:
            reply["id"] = request_id
        return proto.encode_json(reply)

    def bad_frame(self, reason):
        return proto.encode_json({"ok": False, "error": reason})

    # -- identity and state --------------------------------------------------------

    def installed(self):
        """The manifest of the last good slot (what anti-rollback compares with)."""
        state = self.boot.state()
        return bootstage.read_manifest(self.flash, state.good)

    async def _op_hello(self, request):
        state = self.boot.state()
        return {"model": self.identity.get("model"), "serial": self.identity.get("serial"),
                "target": self.identity.get("target"), "version": self.boot.version,
                "slot": self.boot.slot, "on_trial": self.boot.on_trial, "good": state.good,
                "trial": state.trial, "tries": state.tries, "free": self.flash.free_bytes(),
                "protocol": proto.PROTOCOL_VERSION, "mpy": self.mpy, "max_chunk": proto.MAX_CHUNK}

    async def _op_status(self, request):
        reply = await self._op_hello(request)
        reply["restored"] = self.boot.state().restored
        upload = self._upload_state()
        if upload is not None:
            reply["upload"] = {"size": upload["size"], "received": self.flash.size(UPLOAD_PART) or 0,
                               "version": upload.get("version")}
        reply["busy"] = self._busy()
        return reply

    def _busy(self):
        """None when the terminal is idle with nothing owed to the host, else why not."""
        app = self.app_ref()
        if app is None:
            return None
        if not app.idle_event.is_set():
            return ("the handset is busy with a transaction: finish it at the counter (or let it "
                    "time out), then try again")
        owed = len(app.state.pending_reversals()) + len(app.state.pending_refunds())
        if owed:
            return ("the handset owes the host %d reversal(s) or refund(s): let it reach the host "
                    "(sign on), then try again" % owed)
        return None

    # -- upload --------------------------------------------------------------------

    def _upload_state(self):
        data = self.flash.read(UPLOAD_STATE)
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return None

    async def _op_begin(self, request):
        size = request.get("size")
        digest = request.get("sha256")
        header_b64 = request.get("header")
        if not isinstance(size, int) or not isinstance(digest, str) or not isinstance(header_b64, str):
            raise Refused("begin needs size, sha256 and header")
        import binascii
        header = binascii.a2b_base64(header_b64)
        manifest, _, _ = bundle.verify_header(header, self.trusted_keys)
        header_len = len(header)
        if header_len != bundle.header_size(header) or size <= header_len:
            raise Refused("bundle header and size do not agree: rebuild the bundle")
        self._check_can_update(manifest)
        upload = self._upload_state()
        if upload is not None and upload.get("sha256") == digest and upload.get("size") == size \
                and not request.get("restart"):
            received = self.flash.size(UPLOAD_PART) or 0
            if received > size:
                received = self._restart(digest, size, header, manifest)
        else:
            received = self._restart(digest, size, header, manifest)
        self._check_space(manifest, size - received)
        with self.flash.open_read(UPLOAD_PART) as f:
            held = hexlify(_sha256_file(f, 0, received))
        return {"received": received, "received_sha256": held}

    def _restart(self, digest, size, header, manifest):
        self._check_space(manifest, size)
        self.flash.remove(UPLOAD_PART)
        self.flash.makedirs("upload")
        self.flash.write_atomic(UPLOAD_STATE, json.dumps(
            {"sha256": digest, "size": size, "version": manifest["version"]}).encode())
        self.flash.write_file(UPLOAD_PART, header)
        return len(header)

    def _check_can_update(self, manifest):
        if self.boot.on_trial:
            raise Refused("the handset runs version %s on trial: wait for its health check "
                          "(or pos-flash --mark-good / --rollback), then flash again" % self.boot.version)
        installed = self.installed()
        bundle.check_fits(manifest, self.identity.get("target"), installed, self.mpy,
                          (installed or {}).get("data"))
        busy = self._busy()
        if busy:
            raise Refused(busy)

    def _check_space(self, manifest, upload_left):
        free = self.flash.free_bytes()
        if free is None:
            return
        target = bootstage.slot_dir(self._target_slot())
        files = 0
        for entry in manifest["files"]:
            files += entry["size"]
        need = upload_left + files + 4096 - self.flash.used_bytes(target)
        if need > free:
            raise Refused("no space on the handset for this bundle: %d KB needed, %d KB free; free "
                          "some or flash a smaller build" % ((need + 1023) // 1024, free // 1024))

    def _target_slot(self):
        return bootstage.other_slot(self.boot.slot)

    def _chunk(self, payload):
        offset, data = proto.decode_chunk(payload)
        upload = self._upload_state()
        if upload is None:
            raise Refused("no upload in progress: send begin first")
        received = self.flash.size(UPLOAD_PART) or 0
        if offset != received:
            raise Refused("chunk at offset %d, expected %d: resume from there" % (offset, received))
        if received + len(data) > upload["size"]:
            raise Refused("chunk goes past the end of the bundle")
        self.flash.append(UPLOAD_PART, data)
        return {"received": received + len(data)}

    async def _op_abort(self, request):
        self._drop_upload()
        return {}

    def _drop_upload(self):
        self.flash.remove(UPLOAD_PART)
        self.flash.remove(UPLOAD_STATE)

    # -- install -----------------------------------------------------------------------

    async def _op_install(self, request):
        upload = self._upload_state()
        if upload is None:
            raise Refused("no upload to install: send the bundle first")
        received = self.flash.size(UPLOAD_PART) or 0
        if received != upload["size"]:
            raise Refused("upload incomplete (%d of %d bytes): resume it first" % (received, upload["size"]))
        with self.flash.open_read(UPLOAD_PART) as f:
            if hexlify(_sha256_file(f, 0, received)) != upload["sha256"]:
                self._drop_upload()
                raise Refused("the uploaded bundle is damaged (SHA-256 differs): flash it again")
            f.seek(0)
            head = f.read(15)
            f.seek(0)
            header = f.read(bundle.header_size(head))
            manifest, manifest_bytes, signature = bundle.verify_header(header, self.trusted_keys)
            payload = manifest["payload"]
            if received - len(header) != payload["size"] or \
                    hexlify(_sha256_file(f, len(header), received)) != payload["sha256"]:
                self._drop_upload()
                raise Refused("the bundle's payload does not match its signed manifest: rebuild it")
        self._check_can_update(manifest)
        slot = self._target_slot()
        self._write_slot(slot, manifest, manifest_bytes, signature, len(header))
        self.boot.start_trial(slot, self.tries)
        self._drop_upload()
        return {"slot": slot, "version": manifest["version"], "tries": self.tries}

    def _write_slot(self, slot, manifest, manifest_bytes, signature, payload_start):
        """Replace the slot's firmware. Its manifest goes first (the slot is
        then no firmware at all) and comes back last, so a power cut leaves
        either no firmware or all of it, never a mix."""
        flash = self.flash
        folder = bootstage.slot_dir(slot)
        flash.remove(folder + "/" + bootstage.MANIFEST)
        flash.remove_tree(folder)
        flash.makedirs(folder)
        with flash.open_read(UPLOAD_PART) as f:
            f.seek(payload_start)
            source = open_inflate(f) if manifest["compression"] == "zlib" else f
            made = {}
            for entry in manifest["files"]:
                name = entry["name"]
                parent = name.rsplit("/", 1)[0] if "/" in name else ""
                if parent and parent not in made:
                    flash.makedirs(folder + "/" + parent)
                    made[parent] = True
                path = folder + "/" + name
                digest = flash.write_from(path, source.read, entry["size"])
                if flash.size(path) != entry["size"] or digest != entry["sha256"]:
                    flash.remove_tree(folder)
                    self._drop_upload()
                    raise Refused("%s in the bundle does not match its signed hash: rebuild the bundle"
                                  % name)
        flash.write_file(folder + "/" + bootstage.SIGNATURE, signature)
        flash.write_file(folder + "/" + bootstage.MANIFEST, manifest_bytes)

    # -- boot state ----------------------------------------------------------------------

    async def _op_reboot(self, request):
        busy = self._busy()
        if busy:
            raise Refused(busy)
        self.boot.request_reboot()
        return {}

    async def _op_mark_good(self, request):
        if not self.boot.on_trial:
            raise Refused("version %s in slot %s is already the good one" % (self.boot.version, self.boot.slot))
        self.boot.mark_good()
        return {"slot": self.boot.slot}

    async def _op_rollback(self, request):
        busy = self._busy()
        if busy:
            raise Refused(busy)
        slot = self.boot.rollback()
        if slot is None:
            raise Refused("no other firmware to go back to: the other slot holds none")
        self.boot.request_reboot()
        return {"slot": slot}

