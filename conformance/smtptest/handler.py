# The aiosmtpd handler of smtptest: every accepted message is written to a
# folder as one JSON file. With a user and a password, AUTH PLAIN (and
# LOGIN) are accepted with those only, and MAIL is refused until the
# session has authenticated.
#
#   python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c smtptest_handler.Maildir DIR [USER PASSWORD]
import base64
import json
import os
import time

from aiosmtpd.smtp import AuthResult


class Maildir:
    def __init__(self, folder, user=None, password=None):
        self.folder = folder
        self.user = user
        self.password = password
        self.seq = 0

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) not in (1, 3):
            parser.error("Maildir takes DIR [USER PASSWORD]")
        return cls(*args)

    def _check(self, user, password):
        ok = self.user is not None and user == self.user.encode() and password == self.password.encode()
        return AuthResult(success=ok, handled=False, auth_data=self.user if ok else None)

    async def auth_PLAIN(self, server, args):
        try:
            if len(args) == 2:
                raw = base64.b64decode(args[1], validate=True)
            else:
                raw = await server.challenge_auth("")  # decoded already
            _, user, password = raw.split(b"\0")
        except Exception:
            return AuthResult(success=False, handled=False)
        return self._check(user, password)

    async def auth_LOGIN(self, server, args):
        user = await server.challenge_auth("Username:")
        password = await server.challenge_auth("Password:")
        if not isinstance(user, bytes) or not isinstance(password, bytes):
            return AuthResult(success=False, handled=False)
        return self._check(user, password)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.user is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.seq += 1
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": base64.b64encode(content).decode(),
            "tls": session.ssl is not None,
            "auth": session.auth_data if isinstance(session.auth_data, str) else "",
        }
        name = "%020d-%06d.json" % (time.time_ns(), self.seq)
        tmp = os.path.join(self.folder, "." + name)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.folder, name))  # readers never see half a file
        return "250 Message accepted for delivery"
