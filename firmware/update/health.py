"""The health check of a firmware on trial, and what the app does with it.

A slot is marked good only when the app has really come up (DESIGN.md):
the idle screen is up, the journal loaded and verified, the keys present,
and the boot sign-on succeeded or could not reach the host (an offline
shop must not roll back). A build that fails asks for a reboot: the boot
stage counts the try, and after the last one restores the good slot.
"""

# Sign-on outcomes that say "the host was not reached", not "this build is broken".
UNREACHABLE = ("HOST_DOWN", "NO_REPLY")


def problems(app):
    """-> a list of sentences, empty when the app is healthy."""
    found = []
    if not app.idle_event.is_set():
        found.append("the idle screen is not up")
    if app.journal.broken:
        found.append("journal %s" % app.journal.broken)
    if not app.devices.keystore.has_master_key():
        found.append("no master key in the key store")
    if not app.signed_on and app.signon_error not in UNREACHABLE:
        found.append("sign-on failed (%s)" % app.signon_error)
    return found


async def watch(app, boot, timeout_ms=120000):
    """On trial: wait for the idle screen, check, then mark good or ask for
    a reboot. Off trial: nothing to do."""
    from hal.compat import TimeoutError, wait_for_ms
    if not boot.on_trial:
        return True
    try:
        await wait_for_ms(app.idle_event.wait(), timeout_ms)
    except TimeoutError:
        pass
    found = problems(app)
    if found:
        app.log("update: version %s failed its health check: %s", boot.version, "; ".join(found))
        boot.request_reboot()
        return False
    boot.mark_good()
    app.log("update: version %s passed its health check, slot %s marked good", boot.version, boot.slot)
    return True
