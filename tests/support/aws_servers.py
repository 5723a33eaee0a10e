"""AWS-shaped servers on 127.0.0.1 for the SES tests.

- :class:`MotoServer`: moto's server mode (``moto[server]``) in a child process,
  reset between tests; IAM authentication can be switched on, so that unknown
  keys, wrong secrets and missing permissions are answered as AWS answers them.
- :func:`ses_error` and :func:`ses_json`: answers for
  :class:`tests.http_servers.ScriptedHttp` where moto does not emulate SES (the
  sandbox, throttling, GetAccount, region-scoped signatures), in SES v2's
  documented shape: a JSON body with ``message`` and the ``x-amzn-ErrorType``
  header. ScriptedHttp also serves container credentials
  (``AWS_CONTAINER_CREDENTIALS_FULL_URI``) as the ECS agent does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support.http_servers import Reply

_MOTO_SCRIPT = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


class MotoServer:
    def __init__(self) -> None:
        pytest.importorskip("moto.server", reason="moto[server] (the test extra) is not installed")
        pytest.importorskip("flask", reason="moto[server] needs flask (pip install 'moto[server]')")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.process = subprocess.Popen(
            [sys.executable, "-c", _MOTO_SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            pytest.fail(f"moto's server did not start: {line!r}")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _post(self, path: str, data: bytes = b"") -> None:
        request = urllib.request.Request(
            self.url + path, data=data, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def reset(self) -> None:
        self.iam_auth(False)
        self._post("/moto-api/reset")

    def iam_auth(self, enabled: bool) -> None:
        """IAM authentication on (signatures, keys and policies checked) or off."""
        self._post("/moto-api/reset-auth", b"0" if enabled else b"inf")

    def client(self, service: str, region: str = "eu-west-1") -> Any:
        """A botocore client for setting things up (IAM authentication off)."""
        import botocore.session

        session = botocore.session.Session()
        return session.create_client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="AKIDSETUP",
            aws_secret_access_key="setup-secret",
        )

    def verify(self, identity: str, region: str = "eu-west-1") -> None:
        self.client("sesv2", region).create_email_identity(EmailIdentity=identity)

    def sent(self, region: str = "eu-west-1") -> float:
        """What moto's SES backend has sent in ``region`` (it counts the envelope recipients
        and the message's To header both), 0 when nothing was sent."""
        return float(self.client("ses", region).get_send_quota()["SentLast24Hours"])

    def iam_user(self, name: str, *, allow: list[str] | None = None) -> tuple[str, str]:
        """An IAM user with an access key (and an inline policy allowing ``allow``)."""
        iam = self.client("iam", "us-east-1")
        iam.create_user(UserName=name)
        if allow:
            policy = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": allow, "Resource": "*"}],
            }
            iam.put_user_policy(UserName=name, PolicyName="mail", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]


@contextmanager
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    try:
        yield server
    finally:
        server.stop()


def ses_error(status: int, code: str, message: str) -> Reply:
    """An SES v2 error as the API documents it."""
    return (
        status,
        {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/",
        },
        json.dumps({"message": message}).encode(),
    )


def ses_json(document: dict[str, Any]) -> Reply:
    return (200, {"Content-Type": "application/json"}, json.dumps(document).encode())
