"""moto's AWS emulator as a real server on 127.0.0.1, started and stopped by the tests.

keyscan talks to it exactly as to AWS: over HTTP, through boto3, at `--aws-endpoint-url`.
Every request the server receives is recorded (moto's recorder, with headers), so a test can
tell which access key IDs signed a request, and IAM authentication can be switched on, so that
a key IAM does not hold is refused as AWS would refuse it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
REGION = "us-east-1"
# moto's default account: the account of every key ID moto generates, and of the caller.
ACCOUNT = "123456789012"
START_TIMEOUT = 30.0
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")


def free_port() -> int:
    """A port nobody listens on (bound once by us and released)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def ambient_env() -> dict[str, str]:
    """Fake ambient AWS credentials, and nothing that could send a request beyond 127.0.0.1."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def moto_command(port: int) -> list[str]:
    """`moto_server` from the interpreter's own bin folder (as `pip install moto[server]`
    puts it there), else the module."""
    script = Path(sys.executable).parent / "moto_server"
    if script.exists():
        return [str(script), "-H", HOST, "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]


class MotoServer:
    """A moto server in a subprocess, its log and its request recording in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.recording = folder / "requests.jsonl"
        self.log_path = folder / "moto.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(ambient_env())
        env.update(MOTO_ENABLE_RECORDING="1", MOTO_RECORDER_FILEPATH=str(self.recording))
        for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env.pop(proxy, None)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            moto_command(self.port),
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited ({self.process.returncode}):\n{self.log()}")
            try:
                self.post("/moto-api/reset")
                return
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not answer:\n{self.log()}") from None
                time.sleep(0.1)

    def post(self, path: str, data: bytes = b"") -> Any:
        # text/plain: moto reads reset-auth's count from the raw body, which Flask leaves
        # empty for a form-encoded request.
        request = urllib.request.Request(
            self.url + path, data=data, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def reset(self) -> None:
        """Forget every resource and recorded request; IAM authentication off."""
        self.post("/moto-api/reset")
        self.post("/moto-api/reset-auth", b"inf")
        self.forget_requests()

    def forget_requests(self) -> None:
        self.post("/moto-api/recorder/reset-recording")

    def require_authentication(self) -> None:
        """From now on a request must be signed by a key IAM holds (a deleted key is refused)."""
        self.post("/moto-api/reset-auth", b"0")

    def requests(self) -> list[dict[str, Any]]:
        """Every request recorded since the last reset."""
        if not self.recording.exists():
            return []
        text = self.recording.read_text()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def signing_key_ids(self) -> list[str]:
        """The access key ID that signed each recorded AWS request, in order."""
        ids = []
        for request in self.requests():
            found = _CREDENTIAL.search(request["headers"].get("Authorization", ""))
            if found:
                ids.append(found.group(1))
        return ids

    def actions(self) -> list[str]:
        """The AWS action (`GetCallerIdentity`, `ListUsers`...) of each recorded request."""
        names = []
        for request in self.requests():
            body = request.get("body") or ""
            if request.get("body_encoded"):
                body = base64.b64decode(body).decode("utf-8", "replace")
            action = urllib.parse.parse_qs(body).get("Action")
            if action:
                names.append(action[0])
        return names

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
