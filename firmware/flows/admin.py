"""Admin (管理): passwords, language, operator sign-in. Changing any
password or the language needs the supervisor."""

from firmware.errors import PosError
from firmware.flows import common
from firmware.operators import SUPERVISOR, password_length, valid_operator_id

TITLE = "ADMIN"


async def run(app):
    choice = await app.ui.choose(TITLE, ["ADMIN_CHANGE_SUP", "ADMIN_CHANGE_OP", "ADMIN_LANGUAGE",
                                         "ADMIN_SIGN_IN", "ADMIN_SUPPORT", "ADMIN_DECOMMISSION"])
    if choice == 3:
        await operator_sign_in(app)
        return
    if choice == 4:
        await support_export(app)
        return
    if choice == 5:
        from firmware.flows import decommission
        await decommission.run(app)
        return
    just_changed = await common.supervisor(app, TITLE)
    if choice == 0:
        if not just_changed:
            await common.change_password(app, TITLE, SUPERVISOR)
    elif choice == 1:
        operator_id = await app.ui.ask_digits(TITLE, "ENTER_OPERATOR", 2, 2)
        if not valid_operator_id(operator_id) or operator_id == SUPERVISOR:
            raise PosError("NO_SUCH_OPERATOR")
        await common.change_password(app, TITLE, operator_id)
    else:
        app.settings.save(lang="en" if app.settings.lang == "zh" else "zh")
        await app.ui.message(TITLE, ["LANGUAGE_SET"])


async def operator_sign_in(app):
    operator_id = await app.ui.ask_digits(TITLE, "ENTER_OPERATOR", 2, 2)
    if not valid_operator_id(operator_id) or operator_id == SUPERVISOR:
        raise PosError("NO_SUCH_OPERATOR")
    app.operators.refuse_if_closed(operator_id)
    length = password_length(operator_id)
    password = await app.ui.ask_digits(TITLE, "ENTER_OPERATOR_PW", length, length, secret=True)
    await common.password_checked(app, TITLE, operator_id, password)
    app.operator = operator_id
    await app.ui.message(TITLE, [("OPERATOR_SIGNED_IN", operator_id)])


async def support_export(app):
    """The journal, its side files and the service problems in one file
    for a service engineer (works in the "service needed" state too)."""
    from firmware import support
    size = support.export(app)
    app.log("support export: %s, %d bytes", support.EXPORT_NAME, size)
    await app.ui.message(TITLE, [("SUPPORT_EXPORTED", support.EXPORT_NAME)])
