"""Every string the merchant reads, in Chinese and English.

text(lang, code, *args) picks one; a code that is missing falls back to the
code itself, so a forgotten entry shows up in tests instead of crashing a
flow. Keep lines short: the screen is 240 px wide (15 hanzi, 30 ASCII).
"""

ZH = "zh"
EN = "en"

MESSAGES = {
    # idle and menu
    "TERMINAL": ("POS终端", "POS Terminal"),
    "IDLE_HINT": ("请刷卡/插卡/挥卡", "Swipe, insert or tap"),
    "IDLE_MENU": ("按[菜单]选择交易", "Press MENU for more"),
    "IDLE_F1": ("按[F1]操作员签到", "F1: operator sign-in"),
    "MENU": ("主菜单", "Main menu"),
    "SERVICE_NEEDED": ("终端需维护,暂停新交易", "Service needed: no new sales"),
    "SERVICE_JOURNAL": ("流水异常%s处,请联系维护", "Journal: %s problem(s) found"),
    "SUPPORT_EXPORTED": ("维护数据已导出:%s", "Support data saved: %s"),
    "MENU_SALE": ("1.消费", "1.Sale"),
    "MENU_VOID": ("2.消费撤销", "2.Void"),
    "MENU_REFUND": ("3.退货", "3.Refund"),
    "MENU_REPRINT": ("4.重打印", "4.Reprint"),
    "MENU_SETTLE": ("5.结算", "5.Settlement"),
    "MENU_SIGNON": ("6.签到", "6.Sign on"),
    "MENU_ADMIN": ("7.管理", "7.Admin"),
    "KEYS_HINT": ("[确认]继续 [取消]退出", "ENTER=OK  CANCEL=exit"),
    "SIGNED_OFF": ("未签到", "Not signed on"),
    "SERVICE_PASSWORDS": ("密码文件损坏", "Password file damaged"),
    "STATUS_SIM_KEYS": ("[模拟密钥]", "[SIM KEYS]"),
    "STATUS_ECB_MAC": ("[ECB MAC]", "[ECB MAC]"),
    "OPERATOR": ("操作员:%s", "Operator: %s"),
    "BATCH_TRACE": ("批次:%s 凭证:%s", "Batch %s Trace %s"),
    # titles
    "SALE": ("消费", "Sale"),
    "VOID": ("消费撤销", "Void"),
    "REFUND": ("退货", "Refund"),
    "REPRINT": ("重打印", "Reprint"),
    "SETTLE": ("结算", "Settlement"),
    "SIGNON": ("签到", "Sign on"),
    "REVERSAL": ("冲正", "Reversal"),
    "ADMIN": ("管理", "Admin"),
    # prompts
    "ENTER_AMOUNT": ("请输入金额:", "Enter amount:"),
    "ENTER_REFUND_AMOUNT": ("请输入退货金额:", "Enter refund amount:"),
    "PRESENT_CARD": ("请刷卡/插卡/挥卡", "Swipe, insert or tap card"),
    "USE_CHIP": ("芯片卡请插卡", "Chip card: please insert"),
    "REMOVE_CARD": ("请拔卡", "Please remove card"),
    "ENTER_PIN": ("请持卡人输入密码:", "Cardholder, enter PIN:"),
    "PIN_OPTIONAL": ("无密码请直接按[确认]", "No PIN: press ENTER"),
    "ENTER_SUPERVISOR_PW": ("请输入主管密码:", "Supervisor password:"),
    "ENTER_OPERATOR": ("请输入操作员号:", "Operator number:"),
    "ENTER_OPERATOR_PW": ("请输入操作员密码:", "Operator password:"),
    "ENTER_NEW_PW": ("请输入新密码:", "New password:"),
    "ENTER_NEW_PW_AGAIN": ("请再输入新密码:", "New password again:"),
    "MUST_CHANGE_PW": ("请先修改出厂密码", "Change factory password"),
    "ENTER_ORIG_TRACE": ("请输入原凭证号:", "Original trace no.:"),
    "ENTER_ORIG_RRN": ("请输入原参考号:", "Original ref. no.:"),
    "ENTER_ORIG_DATE": ("请输入原交易日期(月日):", "Original date (MMDD):"),
    "CONFIRM": ("请按[确认]继续", "Press ENTER to confirm"),
    "AMOUNT": ("金额:%s", "Amount: %s"),
    "CARD_NO": ("卡号:%s", "Card: %s"),
    "TRACE_NO": ("凭证号:%s", "Trace: %s"),
    "RRN_NO": ("参考号:%s", "Ref: %s"),
    "TIME": ("时间:%s", "Time: %s"),
    "REFUNDABLE": ("可退金额:%s", "Refundable: %s"),
    "REPRINT_LAST": ("1.重打印最后一笔", "1.Last receipt"),
    "REPRINT_ANY": ("2.重打印任意一笔", "2.By trace number"),
    "REPRINT_SETTLE": ("3.重打印结算单", "3.Last settlement"),
    "ADMIN_CHANGE_SUP": ("1.修改主管密码", "1.Supervisor password"),
    "ADMIN_CHANGE_OP": ("2.修改操作员密码", "2.Operator password"),
    "ADMIN_LANGUAGE": ("3.语言 中文/English", "3.Language 中文/English"),
    "ADMIN_SIGN_IN": ("4.操作员签到", "4.Operator sign-in"),
    "ADMIN_SUPPORT": ("5.导出维护数据", "5.Support export"),
    # progress
    "CONNECTING": ("正在连接主机...", "Connecting to host..."),
    "PROCESSING": ("处理中,请稍候...", "Processing, please wait..."),
    "SENDING_REVERSAL": ("正在发送冲正...", "Sending reversal..."),
    "RESENDING_REFUND": ("正在重发退货...", "Resending refund..."),
    "RETRY": ("无应答,第%s次重试", "No reply, retry %s"),
    "PRINTING": ("正在打印...", "Printing..."),
    "TEAR_MERCHANT": ("请撕下商户存根", "Tear off merchant copy"),
    "PAPER_OUT": ("打印机缺纸", "Printer out of paper"),
    "LOAD_PAPER": ("请装纸,装好后自动继续", "Load paper to continue"),
    # outcomes
    "APPROVED": ("交易成功", "Approved"),
    "SALE_OK": ("消费成功", "Sale approved"),
    "VOID_OK": ("撤销成功", "Void approved"),
    "REFUND_OK": ("退货成功", "Refund successful"),
    "SIGNON_OK": ("签到成功", "Signed on"),
    "SETTLE_OK": ("结算成功", "Settlement done"),
    "SETTLE_UNBALANCED": ("对账不平,已上送明细", "Unbalanced: batch uploaded"),
    "PW_CHANGED": ("密码修改成功", "Password changed"),
    "OPERATOR_SIGNED_IN": ("操作员%s已签到", "Operator %s signed in"),
    "LANGUAGE_SET": ("语言已设置", "Language set"),
    "REVERSAL_OK": ("冲正成功", "Reversal accepted"),
    # errors and refusals: say what happened and what to do next
    "CANCELLED": ("交易已取消", "Cancelled"),
    "TIMEOUT": ("操作超时,交易取消", "Timed out, cancelled"),
    "CARD_READ": ("读卡失败,请重新刷卡", "Card read failed, try again"),
    "BAD_LUHN": ("卡号无效,请换卡", "Invalid card number"),
    "CARD_EXPIRED": ("卡片已过期,请换卡", "Card expired, use another"),
    "NO_CHIP": ("此卡无芯片,请刷卡", "No chip: please swipe"),
    "CHIP_ERROR": ("芯片读取失败,请重试", "Chip error, try again"),
    "NO_APP": ("芯片无可用应用,请刷卡", "No chip application: swipe"),
    "CARD_REMOVED": ("卡片被拔出,交易已冲正", "Card removed, reversed"),
    "CHIP_DECLINED": ("卡片拒绝交易,已冲正", "Card declined, reversed"),
    "NOT_CONTACTLESS": ("此卡不支持挥卡", "Card cannot be tapped"),
    "CARD_MISMATCH": ("卡号与原交易不符", "Card differs from original"),
    "PIN_LENGTH": ("密码须为4-12位", "PIN must be 4-12 digits"),
    "HOST_DOWN": ("无法连接主机,请稍后重试", "Host unreachable, try later"),
    "MODEM": ("通讯模块故障,请检查网络", "Modem error, check network"),
    "NO_REPLY": ("主机无应答,已发起冲正", "No host reply, reversed"),
    "BAD_MAC": ("应答校验错,已发起冲正", "Reply MAC error, reversed"),
    "BAD_REPLY": ("主机应答错误,已发起冲正", "Bad host reply, reversed"),
    "REFUND_UNCONFIRMED": ("退货结果未知,将自动重发,请勿重复退货", "Refund unconfirmed: resent automatically, do not refund again"),
    "REFUND_NOT_CONFIRMED": ("退货未确认,请联系收单机构", "Refund not confirmed, call the acquirer"),
    "REVERSAL_PENDING": ("冲正未完成,请稍后重试", "Reversal pending, try later"),
    "SETTLE_UNKNOWN": ("结算结果未知,将自动重新结算", "Settlement unconfirmed: it is retried automatically"),
    "SETTLE_PENDING": ("结算未完成,请稍后重试", "Settlement unfinished, try later"),
    "SETTLE_RESUMING": ("正在完成上次结算", "Finishing the last settlement"),
    "REFUND_PENDING": ("有待确认的退货,请稍后重试", "Refund pending, try later"),
    "NOT_SIGNED_ON": ("请先签到", "Please sign on first"),
    "STORAGE": ("存储故障,交易未进行", "Storage error, nothing done"),
    "STORAGE_FULL": ("存储已满,请先结算", "Storage full, settle first"),
    "JOURNAL": ("流水记录失败,交易未进行", "Journal error, nothing done"),
    "KEYSTORE": ("密钥错误,请重新签到", "Key error, sign on again"),
    "PRINTER": ("打印机故障", "Printer error"),
    "PRINTER_NO_ANSWER": ("打印机无响应,请检查", "Printer not responding"),
    "DEVICE": ("设备故障,请重启终端", "Device error, restart"),
    "AMOUNT_ZERO": ("金额不能为0", "Amount must not be 0"),
    "AMOUNT_TOO_LARGE": ("金额超限", "Amount too large"),
    "WRONG_PW": ("密码错误,还可试%s次", "Wrong password, %s tries left"),
    "LOCKED": ("密码已锁定,请%s分钟后再试", "Locked: try again in %s min"),
    "PW_MISMATCH": ("两次密码不一致", "Passwords differ"),
    "PW_FORMAT": ("密码须为%s位数字", "Password must be %s digits"),
    "PW_FACTORY": ("不能使用出厂密码", "Factory password not allowed"),
    "PW_TRIVIAL": ("密码过于简单", "Password too simple"),
    "PW_SERVICE": ("密码文件损坏,请联系维修", "Passwords damaged: service"),
    "NO_SUCH_OPERATOR": ("无此操作员", "No such operator"),
    "TRACE_NOT_FOUND": ("原交易不存在", "Original not found"),
    "ORIG_NOT_SALE": ("原交易不是消费,不能撤销", "Original is not a sale"),
    "ORIG_VOIDED": ("原交易已撤销", "Original already voided"),
    "ORIG_REFUNDED": ("原交易已退货,不能撤销", "Already refunded, cannot void"),
    "ORIG_DECLINED": ("原交易未成功,不能撤销", "Original was declined"),
    "ORIG_REVERSED": ("原交易已冲正", "Original was reversed"),
    "ORIG_OTHER_BATCH": ("非本批次交易,请做退货", "Other batch: use refund"),
    "ORIG_PENDING": ("原交易结果未知,请稍后", "Original still pending"),
    "REFUND_EXCEEDS": ("退货金额超过可退金额", "Refund exceeds original"),
    "REFUND_OVER_CAP": ("超过单笔退货限额%s", "Over refund limit %s"),
    "NOTHING_TO_PRINT": ("没有可打印的凭证", "Nothing to reprint"),
    "BATCH_EMPTY": ("本批次无交易", "Batch is empty"),
    "HOST_DECLINED": ("交易失败(%s)", "Declined (%s)"),
    "RC_INVALID_MERCHANT": ("无效商户(03)", "Invalid merchant (03)"),
    "RC_DO_NOT_HONOUR": ("发卡行拒绝(05)", "Do not honour (05)"),
    "RC_INVALID_TXN": ("无效交易(12)", "Invalid transaction (12)"),
    "RC_INVALID_AMOUNT": ("无效金额(13)", "Invalid amount (13)"),
    "RC_INVALID_CARD": ("无效卡号(14),请换卡", "Invalid card (14)"),
    "RC_ORIGINAL_NOT_FOUND": ("找不到原交易(25)", "Original not found (25)"),
    "RC_FORMAT_ERROR": ("报文格式错(30)", "Format error (30)"),
    "RC_NO_FUNDS": ("余额不足(51)", "Insufficient funds (51)"),
    "RC_EXPIRED": ("卡片过期(54)", "Expired card (54)"),
    "RC_WRONG_PIN": ("密码错误(55),请重试", "Wrong PIN (55), retry"),
    "RC_OVER_LIMIT": ("超出限额(61)", "Over limit (61)"),
    "RC_ORIGINAL_AMOUNT": ("原金额不符(64)", "Original amount wrong (64)"),
    "RC_PIN_TRIES": ("密码错误次数超限(75)", "PIN tries exceeded (75)"),
    "RC_DUPLICATE": ("重复交易(94)", "Duplicate (94)"),
    "RC_RECONCILE": ("对账错误(95)", "Reconcile error (95)"),
    "RC_SYSTEM": ("主机故障(96),请稍后", "Host fault (96), try later"),
    "RC_UNKNOWN_TERMINAL": ("终端未登记(97)", "Unknown terminal (97)"),
    "RC_NO_ISSUER": ("发卡行无应答(98)", "Issuer no reply (98)"),
    "RC_KEY_ERROR": ("密钥错误,请重新签到", "Key error, sign on again"),
    "INTERNAL": ("内部错误,交易未完成", "Internal error"),
    "PRESS_KEY": ("按任意键返回", "Press any key"),
    # QR payments (firmware/qrpay.py)
    "QR_CODE_UNKNOWN": ("不是有效付款码,请顾客刷新后重扫", "Not a payment code: ask to refresh, scan again"),
    "QR_FORMAT": ("扫码报文格式错误", "QR payment message malformed"),
}


def text(lang, code, *args):
    pair = MESSAGES.get(code)
    if pair is None:
        message = code
    else:
        message = pair[1] if lang == EN else pair[0]
    if args:
        try:
            message = message % args
        except TypeError:
            message = message + " " + " ".join(str(a) for a in args)
    return message


def format_amount(fen):
    """12345 -> '123.45'; negative for refunds and voids on receipts."""
    sign = "-" if fen < 0 else ""
    fen = -fen if fen < 0 else fen
    return "%s%d.%02d" % (sign, fen // 100, fen % 100)
