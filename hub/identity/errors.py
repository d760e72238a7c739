"""Errors of the identity service: a stable English ``type`` for programs, a Chinese ``title`` for people."""

from __future__ import annotations


class IdentityError(Exception):
    """Base error; the gateway renders ``title``/``detail`` to the user and ``status`` as the HTTP status."""

    type: str = "identity-error"
    title: str = "认证失败"
    status: int = 400

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title


class InvalidCredentials(IdentityError):
    """Wrong login or password, or a lockout: the reply is the same in every case (no account oracle)."""

    type = "invalid-credentials"
    title = "账号或密码错误"
    status = 401


class InvalidCode(IdentityError):
    type = "invalid-code"
    title = "验证码错误或已失效"
    status = 400


class CodeCooldown(IdentityError):
    type = "code-cooldown"
    title = "验证码发送过于频繁，请稍后再试"
    status = 429


class CodeQuotaExceeded(IdentityError):
    type = "code-quota"
    title = "今日验证码发送次数已达上限，请明天再试"
    status = 429


class SmsUnavailable(IdentityError):
    """Redis (the send counters) is unreachable: sending is refused rather than left unthrottled."""

    type = "sms-unavailable"
    title = "短信服务暂时不可用，请稍后再试"
    status = 503


class RealNameMismatch(IdentityError):
    type = "real-name-mismatch"
    title = "证件号码与姓名不匹配"
    status = 400


class NoPhoneOnRecord(IdentityError):
    type = "no-phone-on-record"
    title = "您在社保经办机构预留的手机号码缺失或无效，请携带身份证件到经办机构窗口或自助终端核验身份"
    status = 400


class AlreadyRegistered(IdentityError):
    type = "already-registered"
    title = "该证件已注册，请直接登录或找回密码"
    status = 409


class WeakPassword(IdentityError):
    type = "weak-password"
    title = "密码不符合安全要求"
    status = 400


class InvalidIdentifierError(IdentityError):
    type = "invalid-identifier"
    title = "证件号码不正确"
    status = 400


class InvalidCaptcha(IdentityError):
    type = "invalid-captcha"
    title = "图形验证码错误或已失效"
    status = 400


class Forbidden(IdentityError):
    """三员分离 and unit-admin checks: the caller's role does not allow this action."""

    type = "forbidden"
    title = "无权执行此操作"
    status = 403


class NotFound(IdentityError):
    type = "not-found"
    title = "账号不存在"
    status = 404


class Conflict(IdentityError):
    type = "conflict"
    title = "账号已存在"
    status = 409


class WrongCurrentPassword(IdentityError):
    """A password change with a wrong current password, or while the account is locked: the same reply."""

    type = "wrong-password"
    title = "当前密码不正确"
    status = 400


class SamePassword(WeakPassword):
    """The new password is the current one."""

    def __init__(self) -> None:
        super().__init__("新密码不能与当前密码相同")


class TemporaryPasswordExpired(IdentityError):
    """The right administrator-issued password, after its validity ran out."""

    type = "temporary-password-expired"
    title = "临时密码已过期"
    status = 401

    def __init__(self) -> None:
        super().__init__("管理员设置的临时密码已过期，请联系管理员重新设置密码")
