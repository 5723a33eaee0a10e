"""A local OAuth2 authorisation server and an SMTP server that accepts only its tokens.

``AuthServer`` listens on 127.0.0.1 over HTTPS (a trustme certificate) and
implements what the flows need, as RFC 6749, RFC 8628 and RFC 7523 and the
providers document them: the device authorization endpoint, a verification
page where a person approves or denies a user code, and the token endpoint for
the device-code, refresh-token (rotating), client-credentials and JWT-bearer
grants, with their error responses (authorization_pending, slow_down,
expired_token, access_denied, invalid_grant, invalid_client with Microsoft's
AADSTS7000215 text, unauthorized_client).

``GraphApi`` plays Microsoft Graph's ``sendMail`` and ``GET /users/{id}`` over HTTPS (same
CA) on the shared :func:`http_servers.scripted_http`: a bearer token is accepted only when
the AuthServer issued it for a Graph scope and it has not expired; the MIME form
(``Content-Type: text/plain``, base64) is decoded and recorded; ``fail`` scripts Graph's
error answers (``graph_error``).

``BearerSmtp`` is an aiosmtpd server (STARTTLS, same CA) offering XOAUTH2
and/or OAUTHBEARER only, accepting a token only when the AuthServer issued it,
it has not expired and it was issued for the login name; a refused token gets
the 334 error continuation (base64 JSON with status, schemes and scope).
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.http_servers import Reply, Seen, scripted_http
from tests.support.smtp_servers import LocalCA
from tui_mailsetup.sandbox import _Controller

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires_at: float
    state: str = "pending"  # pending | approved | denied
    account: str = ""
    last_poll: float = 0.0


@dataclass
class Issued:
    subject: str
    scope: str
    expires_at: float
    client_id: str


@dataclass
class AuthServer:
    """See the module docstring. ``start()`` it; ``url`` is its base URL."""

    ca: LocalCA
    client_id: str = "test-client-id"
    client_secret: str = "test-client-secret"
    access_lifetime: float = 3600.0
    device_lifetime: float = 600.0
    interval: float = 0.2
    slow_down_once: bool = False
    app_subject: str = ""
    """The mailbox app-only tokens may send as (Exchange's mailbox permission)."""
    service_accounts: dict[str, Any] = field(default_factory=dict)
    """client_email → public key, for the JWT-bearer grant."""
    delegated_users: set[str] = field(default_factory=set)
    app_certificates: dict[str, Any] = field(default_factory=dict)
    """x5t thumbprint → public key, for client assertions (Microsoft app-only certificates)."""
    devices: dict[str, DeviceCode] = field(default_factory=dict)
    access_tokens: dict[str, Issued] = field(default_factory=dict)
    refresh_tokens: dict[str, Issued] = field(default_factory=dict)
    grants: list[str] = field(default_factory=list)
    port: int = 0
    tls: bool = True
    """False: plain http (for oauth2.allow_plaintext_loopback)."""
    misbehave: Callable[[BaseHTTPRequestHandler, str, bytes], bool] | None = None
    """A hostile answer (see the behaviours below): given the handler, the path and the raw
    request body, it writes its own answer and returns True, or False for the normal one."""
    requests: list[bytes] = field(default_factory=list)
    """Every request body received."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- life cycle -------------------------------------------------------

    def start(self) -> AuthServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                outer.requests.append(raw)
                hostile = outer.misbehave
                if hostile is not None and self.path != "/activate":
                    try:
                        if hostile(self, self.path, raw):
                            return
                    except OSError:
                        return  # the client hung up on a hostile answer: what it should do
                form = dict(urllib.parse.parse_qsl(raw.decode()))
                status, body = outer.handle(self.path, form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.leaf.configure_cert(context)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/tenant/oauth2/v2.0/token"

    @property
    def device_url(self) -> str:
        return f"{self.url}/tenant/oauth2/v2.0/devicecode"

    # -- what a person and an administrator do ------------------------------

    def approve(self, user_code: str, account: str, *, deny: bool = False) -> int:
        """The person at the browser: open the verification page, type the code, consent."""
        import http.client

        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=ssl.create_default_context(cafile=str(self.ca.ca_path))
        )
        body = urllib.parse.urlencode(
            {"user_code": user_code, "account": account, "action": "deny" if deny else "approve"}
        )
        connection.request(
            "POST", "/activate", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self.refresh_tokens.clear()

    def expire_access_tokens(self) -> None:
        with self._lock:
            for issued in self.access_tokens.values():
                issued.expires_at = 0.0

    def valid(self, token: str, subject: str) -> Issued | None:
        with self._lock:
            issued = self.access_tokens.get(token)
        if issued is None or issued.expires_at <= time.time() or issued.subject != subject:
            return None
        return issued

    # -- the endpoints --------------------------------------------------------

    def handle(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if path.endswith("/devicecode"):
                return self._device_authorization(form)
            if path == "/activate":
                return self._activate(form)
            if path.endswith("/token"):
                self.grants.append(form.get("grant_type", ""))
                return self._token(form)
        return 404, {"error": "not_found"}

    def _device_authorization(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.client_id:
            return 400, {
                "error": "unauthorized_client",
                "error_description": "AADSTS700016: Application with identifier was not found "
                "in the directory.",
            }
        code = DeviceCode(
            device_code=secrets.token_urlsafe(24),
            user_code=f"{secrets.randbelow(10**4):04d}-{secrets.randbelow(10**4):04d}",
            client_id=form["client_id"],
            scope=form.get("scope", ""),
            expires_at=time.time() + self.device_lifetime,
        )
        self.devices[code.device_code] = code
        return 200, {
            "device_code": code.device_code,
            "user_code": code.user_code,
            "verification_uri": f"{self.url}/activate",
            "expires_in": int(self.device_lifetime),
            "interval": self.interval,
            "message": f"To sign in, enter the code {code.user_code}.",
        }

    def _activate(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        code = next(
            (d for d in self.devices.values() if d.user_code == form.get("user_code")), None
        )
        if code is None or code.expires_at <= time.time():
            return 400, {"error": "the code is wrong or has expired"}
        code.state = "denied" if form.get("action") == "deny" else "approved"
        code.account = form.get("account", "")
        return 200, {"ok": True}

    def _issue(self, subject: str, scope: str, client_id: str, *, refresh: bool) -> dict[str, Any]:
        access = "at-" + secrets.token_urlsafe(24)
        issued = Issued(subject, scope, time.time() + self.access_lifetime, client_id)
        self.access_tokens[access] = issued
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": int(self.access_lifetime),
            "scope": scope,
        }
        if refresh:
            token = "rt-" + secrets.token_urlsafe(24)
            self.refresh_tokens[token] = Issued(subject, scope, time.time() + 90 * 86400, client_id)
            body["refresh_token"] = token
        return body

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type", "")
        if grant == DEVICE_GRANT:
            code = self.devices.get(form.get("device_code", ""))
            if code is None or form.get("client_id") != code.client_id:
                return 400, {"error": "invalid_grant"}
            now = time.time()
            too_fast = now - code.last_poll < self.interval * 0.8
            code.last_poll = now
            if code.expires_at <= now:
                return 400, {"error": "expired_token"}
            if code.state == "denied":
                return 400, {"error": "access_denied"}
            if self.slow_down_once or too_fast:
                self.slow_down_once = False
                return 400, {"error": "slow_down"}
            if code.state == "pending":
                return 400, {
                    "error": "authorization_pending",
                    "error_description": "AADSTS70016: OAuth 2.0 device flow error. "
                    "Authorization is pending.",
                }
            del self.devices[code.device_code]
            scope = " ".join(s for s in code.scope.split() if s != "offline_access")
            return 200, self._issue(
                code.account, scope, code.client_id, refresh="offline_access" in code.scope
            )
        if grant == "refresh_token":
            issued = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if issued is None:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "AADSTS70008: The provided authorization code or "
                    "refresh token has expired due to inactivity.",
                }
            # Rotation: the old refresh token is gone, a new one comes with the access token.
            return 200, self._issue(issued.subject, issued.scope, issued.client_id, refresh=True)
        if grant == "client_credentials":
            if "client_assertion" in form:
                return self._client_assertion(form)
            if form.get("client_id") != self.client_id:
                return 400, {
                    "error": "unauthorized_client",
                    "error_description": "AADSTS700016: Application not found in the directory.",
                }
            if form.get("client_secret") != self.client_secret:
                return 401, {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided. Ensure "
                    "the secret being sent in the request is the client secret value.",
                }
            return 200, self._issue(
                self.app_subject, form.get("scope", ""), self.client_id, refresh=False
            )
        if grant == JWT_GRANT:
            return self._jwt_bearer(form.get("assertion", ""))
        return 400, {"error": "unsupported_grant_type"}

    @staticmethod
    def _verified_claims(assertion: str, keys: dict[str, Any], key_of: str) -> dict[str, Any]:
        """The claims of an RS256 JWT signed by the key that ``key_of`` (x5t or iss) names."""
        header_b64, payload_b64, signature_b64 = assertion.split(".")
        header = json.loads(_unb64(header_b64))
        claims: dict[str, Any] = json.loads(_unb64(payload_b64))
        public_key = keys[header[key_of] if key_of in header else claims[key_of]]
        public_key.verify(
            _unb64(signature_b64),
            f"{header_b64}.{payload_b64}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
        return claims

    def _client_assertion(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Microsoft app-only with a certificate: a JWT the app signed, found by its x5t."""
        try:
            claims = self._verified_claims(form["client_assertion"], self.app_certificates, "x5t")
        except Exception:
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS700027: The certificate with identifier used to "
                "sign the client assertion is not registered on application.",
            }
        if (
            form.get("client_assertion_type")
            != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            or claims.get("iss") != self.client_id
            or claims.get("sub") != self.client_id
            or claims.get("aud") != self.token_url
            or claims.get("exp", 0) < time.time()
        ):
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000274: bad assertion",
            }
        return 200, self._issue(
            self.app_subject, form.get("scope", ""), self.client_id, refresh=False
        )

    def register_app_certificate(self, directory: Path, *, rsa_key: bool = True) -> Path:
        """The app's certificate and key in one PEM file (0600), registered with this server."""
        import hashlib

        import trustme

        key_type = trustme.KeyType.RSA if rsa_key else trustme.KeyType.ECDSA
        leaf = self.ca.ca.issue_cert("app.contoso.test", key_type=key_type)
        pem = leaf.cert_chain_pems[0].bytes()
        der = ssl.PEM_cert_to_DER_cert(pem.decode())
        thumbprint = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip("=")
        key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
        self.app_certificates[thumbprint] = key.public_key()
        path = directory / "app-cert.pem"
        path.write_bytes(pem + leaf.private_key_pem.bytes())
        path.chmod(0o600)
        return path

    def _jwt_bearer(self, assertion: str) -> tuple[int, dict[str, Any]]:
        try:
            claims = self._verified_claims(assertion, self.service_accounts, "iss")
        except Exception:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        # google-auth always names Google's token endpoint as the audience, wherever it posts.
        audiences = {self.token_url, "https://oauth2.googleapis.com/token"}
        if claims.get("aud") not in audiences or claims.get("exp", 0) < time.time():
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT audience."}
        subject = claims.get("sub", "")
        if subject not in self.delegated_users:
            return 401, {
                "error": "unauthorized_client",
                "error_description": "Client is unauthorized to retrieve access tokens using "
                "this method, or client not authorized for any of the scopes requested.",
            }
        return 200, self._issue(subject, claims.get("scope", ""), claims["iss"], refresh=False)

    # -- Google service accounts --------------------------------------------

    def service_account_key(self, directory: Path, email: str) -> Path:
        """A service-account key file (JSON) whose public key this server knows."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.service_accounts[email] = key.public_key()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        path = directory / "service-account.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "test",
                    "private_key_id": "k1",
                    "private_key": pem,
                    "client_email": email,
                    "client_id": "1234567890",
                    "token_uri": self.token_url,
                }
            )
        )
        path.chmod(0o600)
        return path


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --------------------------------------------------------------------------- Graph


def graph_error(status: int, code: str, message: str, **headers: str) -> Reply:
    """Graph's error answer: ``{"error": {"code", "message", "innerError"}}`` with a request-id."""
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"request-id": "5e6f-err", "date": "2026-12-07T22:00:00"},
        }
    }
    return (
        status,
        {"Content-Type": "application/json", "request-id": "5e6f-err", **headers},
        (json.dumps(body).encode()),
    )


@dataclass
class GraphSent:
    mailbox: str
    mime: bytes


class GraphApi:
    """See the module docstring; ``start()`` it, ``url`` is graph.endpoint."""

    def __init__(self, auth: AuthServer, ca: LocalCA, mailboxes: set[str]) -> None:
        self.auth = auth
        self.ca = ca
        self.mailboxes = mailboxes
        self.can_read_users = True
        """False: the token lacks User.Read.All (GET /users answers 403)."""
        self.fail: Reply | None = None
        """Scripted answer to every request while set (Graph's errors)."""
        self.sent: list[GraphSent] = []
        self.requests: list[Seen] = []
        self._stack = contextlib.ExitStack()
        self.port = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> GraphApi:
        server = self._stack.enter_context(scripted_http(self.ca.server_context()))
        server.answer = self._answer
        self.port = server.port
        return self

    def stop(self) -> None:
        self._stack.close()

    def _answer(self, seen: Seen) -> Reply:
        self.requests.append(seen)
        if self.fail is not None:
            return self.fail
        token = seen.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.auth._lock:
            issued = self.auth.access_tokens.get(token)
        if issued is None or issued.expires_at <= time.time():
            return graph_error(
                401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid."
            )
        if f"127.0.0.1:{self.port}/" not in issued.scope:
            return graph_error(401, "InvalidAuthenticationToken", "Invalid audience.")
        path = seen.path.partition("?")[0]
        parts = path.split("/")  # ["", "v1.0", "users", MAILBOX, ("sendMail")]
        if len(parts) < 4 or parts[1:3] != ["v1.0", "users"]:
            return graph_error(400, "BadRequest", "Resource not found for the segment.")
        mailbox = urllib.parse.unquote(parts[3])
        if mailbox not in self.mailboxes:
            return graph_error(
                404, "ErrorInvalidUser", f"The requested user '{mailbox}' is invalid."
            )
        if seen.method == "GET" and len(parts) == 4:
            if not self.can_read_users:
                return graph_error(
                    403,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                )
            return 200, {"request-id": "5e6f-get"}, json.dumps({"id": "0bd3-user"}).encode()
        if seen.method == "POST" and parts[4:] == ["sendMail"]:
            if seen.headers.get("Content-Type") != "text/plain":
                return graph_error(400, "ErrorInvalidRequest", "Expected JSON or MIME.")
            try:
                mime = base64.b64decode(seen.body, validate=True)
            except ValueError:
                return graph_error(
                    400,
                    "ErrorMimeContentInvalidBase64String",
                    "Invalid base64 string for MIME content.",
                )
            self.sent.append(GraphSent(mailbox, mime))
            return 202, {"request-id": "5e6f-sent", "client-request-id": "5e6f-sent"}, b""
        return graph_error(405, "ErrorInvalidRequest", "Method not allowed.")


# --------------------------------------------------------------------------- SMTP


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str


class _BearerHandler:
    def __init__(self, box: BearerSmtp) -> None:
        self.box = box

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = session.auth_data.login.decode() if session.auth_data else ""
        self.box.messages.append(
            Received(
                envelope.mail_from or "",
                list(envelope.rcpt_tos),
                c.encode() if isinstance(c := envelope.content, str) else c or b"",
                login,
            )
        )
        return "250 2.0.0 OK"

    async def _check(self, server: SMTP, user: str, token: str) -> AuthResult:
        self.box.attempts.append(user)
        self.box.tokens.append(token)
        refuse = self.box.refuse_first > 0
        self.box.refuse_first -= 1
        if not refuse and self.box.auth.valid(token, user) is not None:
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        detail = {"status": "401", "schemes": "bearer", "scope": SMTP_SCOPE}
        answer = await server.challenge_auth(json.dumps(detail).encode())
        self.box.continuation_answers.append(answer if isinstance(answer, bytes) else None)
        return AuthResult(success=False, handled=False, message=self.box.refusal)

    async def _initial_response(self, server: SMTP, args: list[str]) -> bytes | None:
        if len(args) >= 2:
            return base64.b64decode(args[1])
        # No initial response (msmtp): ask for it with an empty challenge.
        answer = await server.challenge_auth(b"")
        return answer if isinstance(answer, bytes) else None

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        blob = await self._initial_response(server, args)
        if blob is None:
            return AuthResult(success=False, handled=False)
        fields = blob.decode().split("\x01")
        values = dict(f.split("=", 1) for f in fields if "=" in f)
        token = values.get("auth", "").removeprefix("Bearer ")
        return await self._check(server, values.get("user", ""), token)

    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:
        blob = await self._initial_response(server, args)
        if blob is None:
            return AuthResult(success=False, handled=False)
        gs2, *fields = blob.decode().split("\x01")
        user = gs2.split(",")[1].removeprefix("a=")
        values = dict(f.split("=", 1) for f in fields if "=" in f)
        token = values.get("auth", "").removeprefix("Bearer ")
        return await self._check(server, user, token)


def _no_password(*_: Any) -> AuthResult:
    return AuthResult(success=False, handled=False)


class BearerSmtp:
    """aiosmtpd with STARTTLS offering only XOAUTH2 and/or OAUTHBEARER (see the module docstring)."""

    def __init__(
        self, auth: AuthServer, ca: LocalCA, mechanisms: tuple[str, ...] = ("XOAUTH2",)
    ) -> None:
        self.auth = auth
        self.ca = ca
        self.mechanisms = mechanisms
        self.messages: list[Received] = []
        self.attempts: list[str] = []
        self.continuation_answers: list[bytes | None] = []
        self.tokens: list[str] = []
        self.refuse_first = 0
        """Refuse this many AUTH attempts whatever the token (revoked, not yet propagated)."""
        self.refusal = "535 5.7.3 Authentication unsuccessful"
        self.port = 0
        self._controller: _Controller | None = None

    def start(self) -> BearerSmtp:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.leaf.configure_cert(context)
        excluded = ["LOGIN", "PLAIN"] + [
            m for m in ("XOAUTH2", "OAUTHBEARER") if m not in self.mechanisms
        ]
        controller = _Controller(
            _BearerHandler(self),
            hostname="127.0.0.1",
            port=0,
            tls_context=context,
            require_starttls=True,
            auth_require_tls=True,
            authenticator=_no_password,
            auth_exclude_mechanism=excluded,
        )
        controller.start()
        self._controller = controller
        self.port = int(controller.port)
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()


# --------------------------------------------------------------------------- hostile endpoints
# Behaviours for AuthServer.misbehave: what a token endpoint on the untrusted network may do.


def _head(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str]) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.flush()


def redirect_to(location: str, status: int = 307) -> Callable[..., bool]:
    """Answer every POST with a redirect (the body of a 307/308 would be re-sent there)."""

    def behave(handler: BaseHTTPRequestHandler, path: str, raw: bytes) -> bool:
        _head(handler, status, {"Location": location, "Content-Length": "0"})
        return True

    return behave


def quote_request(error: str = "invalid_client") -> Callable[..., bool]:
    """An error whose description quotes the request: raw, decoded, and a secret's prefix."""

    def behave(handler: BaseHTTPRequestHandler, path: str, raw: bytes) -> bool:
        form = dict(urllib.parse.parse_qsl(raw.decode()))
        decoded = " ".join(f"{k}={v}" for k, v in form.items())
        prefixes = " ".join(v[:16] for v in form.values() if len(v) > 16)
        body = json.dumps(
            {
                "error": error,
                "error_description": f"bad request {raw.decode()} i.e. {decoded}; prefix {prefixes}",
            }
        ).encode()
        _head(handler, 400, {"Content-Type": "application/json", "Content-Length": str(len(body))})
        handler.wfile.write(body)
        return True

    return behave


@dataclass
class Sent:
    """How many body bytes a hostile behaviour managed to write."""

    bytes: int = 0


def drip(every: float, sent: Sent, *, body: bool = False) -> Callable[..., bool]:
    """The status line and headers (or, with ``body``, the body after prompt headers), one
    byte every ``every`` seconds, for ever."""

    def behave(handler: BaseHTTPRequestHandler, path: str, raw: bytes) -> bool:
        text = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Slow: a" * 1000
        if body:
            _head(handler, 200, {"Content-Type": "application/json", "Content-Length": "9000"})
            text = b'{"access_token": "' + b"a" * 8000
        for byte in text:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            sent.bytes += 1
            time.sleep(every)
        return True

    return behave


def flood(sent: Sent, *, total: int | None = None, chunked: bool = False) -> Callable[..., bool]:
    """A 200 whose body never ends (chunked) or is ``total`` bytes with no length given."""

    def behave(handler: BaseHTTPRequestHandler, path: str, raw: bytes) -> bool:
        handler.protocol_version = "HTTP/1.1"
        headers = {"Content-Type": "application/json", "Connection": "close"}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        _head(handler, 200, headers)
        block = b'{"access_token": "' + b"A" * 65536
        while total is None or sent.bytes < total:
            data = f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block
            handler.wfile.write(data)
            sent.bytes += len(block)
        return True

    return behave


def answer_raw(text: str, status: int = 200) -> Callable[..., bool]:
    """A JSON text written as given (numbers such as 1e400 or NaN that json.dumps cannot)."""

    def behave(handler: BaseHTTPRequestHandler, path: str, raw: bytes) -> bool:
        body = text.encode()
        _head(
            handler, status, {"Content-Type": "application/json", "Content-Length": str(len(body))}
        )
        handler.wfile.write(body)
        return True

    return behave


class PlainListener:
    """A plain TCP listener on 127.0.0.1 that records every byte anyone sends it."""

    def __init__(self) -> None:
        import socket

        self.received = bytearray()
        self.connections = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            connection.settimeout(2)
            try:
                while data := connection.recv(65536):
                    self.received += data
            except OSError:
                pass
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()
