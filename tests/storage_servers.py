"""Real, local implementations of the storage APIs the README promises, for ``test_storage_backends.py``.

Each server is started by the tests on a free loopback port, in its own process group, with its data in
a temporary folder, and stopped (the whole group) when the tests are done; every wait is bounded.

- Google Cloud Storage: ``gcp-storage-emulator`` (PyPI; the JSON API over HTTP), in memory. Version
  2026.7.19 does not implement ``objects.move`` (``POST .../o/{object}/moveTo/o/{dest}``), which gcsfs
  (2026.10) calls first for a rename (on GCS it renames the object atomically; gcsfs falls back to
  copy + delete only after six tries of a 501, about 30 s). ``python tests/storage_servers.py gcs PORT
  BUCKET`` runs the emulator with that one route added: a copy then a delete, in the emulator's single
  request thread, so no client sees the object half moved.
- Azure Blob Storage: Azurite (npm package ``azurite``, pinned in ``tests/azurite/package-lock.json``,
  installed by ``make azurite`` into ``tests/azurite/node_modules``), blob service only, telemetry off,
  with its published development account ``devstoreaccount1``.
- SFTP: Debian's OpenSSH server (``/usr/sbin/sshd``, installed by ``make sshd``), run with its own
  ``sshd_config``, host key and one authorized client key generated into the temporary folder, public
  key authentication only, for the user running the tests.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
START_TIMEOUT = 60.0  # seconds for a server to accept connections

# Azurite's development account: a public constant from its documentation, not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_BIN = ROOT / "tests" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
SSHD = Path(os.environ.get("VIDEOGEN_SSHD", "/usr/sbin/sshd"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=1):
        return True
    return False


class ServerProcess:
    """A server in its own process group, its output in ``log``; a context manager that stops it."""

    name = "server"

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = self.workdir / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        return port_open(self.port)

    def after_start(self) -> None:
        """Create what the tests write into (bucket, container)."""

    def start(self) -> ServerProcess:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.wait_until(self.ready, f"{self.name} to listen on {LOOPBACK}:{self.port}")
        self.after_start()
        return self

    def wait_until(self, check: Callable[[], Any], what: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}) while waiting for {what}:\n"
                                   f"{self.tail()}")
            if check():
                return
            time.sleep(0.1)
        raise TimeoutError(f"waited {timeout:.0f} s for {what}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def __enter__(self) -> ServerProcess:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GcsEmulator(ServerProcess):
    """gcp-storage-emulator, in memory, with ``bucket`` created and ``objects.move`` added."""

    name = "gcs-emulator"

    def __init__(self, workdir: Path, bucket: str):
        super().__init__(workdir)
        self.bucket = bucket
        self.url = f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), "gcs", str(self.port), self.bucket]

    def ready(self) -> bool:
        import requests

        try:
            return requests.get(f"{self.url}/storage/v1/b/{self.bucket}", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    # -- read back through the JSON API itself (not gcsfs) -------------------------------------------
    def names(self, prefix: str = "") -> list[str]:
        import requests

        answer = requests.get(f"{self.url}/storage/v1/b/{self.bucket}/o", params={"prefix": prefix}, timeout=30)
        answer.raise_for_status()
        return sorted(item["name"] for item in answer.json().get("items", []))

    def read(self, name: str) -> bytes:
        from urllib.parse import quote

        import requests

        answer = requests.get(f"{self.url}/download/storage/v1/b/{self.bucket}/o/{quote(name, safe='')}",
                              params={"alt": "media"}, timeout=60)
        answer.raise_for_status()
        return answer.content

    def write(self, name: str, data: bytes) -> None:
        import requests

        requests.post(f"{self.url}/upload/storage/v1/b/{self.bucket}/o", params={"uploadType": "media", "name": name},
                      data=data, headers={"Content-Type": "video/mp4"}, timeout=30).raise_for_status()


class Azurite(ServerProcess):
    """Azurite's blob service with its development account and ``container`` created."""

    name = "azurite"

    def __init__(self, workdir: Path, container: str):
        super().__init__(workdir)
        self.container = container
        self.blob_endpoint = f"http://{LOOPBACK}:{self.port}/{AZURITE_ACCOUNT}"
        self.connection_string = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
                                  f"AccountKey={AZURITE_KEY};BlobEndpoint={self.blob_endpoint};")

    def command(self) -> list[str]:
        if not AZURITE_BIN.exists():
            raise FileNotFoundError(f"{AZURITE_BIN} is missing: run `make azurite` (npm ci in tests/azurite)")
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        return [str(AZURITE_BIN), "--blobHost", LOOPBACK, "--blobPort", str(self.port), "--location", str(data),
                "--disableTelemetry", "--skipApiVersionCheck", "--silent"]

    def client(self):
        from azure.storage.blob import ContainerClient

        return ContainerClient.from_connection_string(self.connection_string, self.container)

    def after_start(self) -> None:
        with self.client() as container:
            container.create_container()

    def names(self, prefix: str = "") -> list[str]:
        with self.client() as container:
            return sorted(container.list_blob_names(name_starts_with=prefix))

    def read(self, name: str) -> bytes:
        with self.client() as container:
            return container.download_blob(name).readall()

    def write(self, name: str, data: bytes) -> None:
        with self.client() as container:
            container.upload_blob(name, data, overwrite=True)


class SshServer(ServerProcess):
    """OpenSSH's sshd on loopback: its own config and host key, one authorized key, SFTP subsystem."""

    name = "sshd"

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.user = getpass.getuser()
        self.host_key = self.workdir / "host_key"
        self.client_key = self.workdir / "client_key"
        self.config = self.workdir / "sshd_config"
        self.home = self.workdir / "home"  # HOME for the client side: .ssh/known_hosts pins the host key
        self.root = self.workdir / "files"  # where the tests write, through SFTP

    def command(self) -> list[str]:
        if not SSHD.exists():
            raise FileNotFoundError(f"{SSHD} is missing: run `make sshd` (apt-get install openssh-server, as root)")
        for key in (self.host_key, self.client_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "videogen-test", "-f", str(key)],
                           check=True, timeout=30, stdin=subprocess.DEVNULL)
        authorized = self.workdir / "authorized_keys"
        authorized.write_text(Path(f"{self.client_key}.pub").read_text())
        authorized.chmod(0o600)
        self.config.write_text("\n".join([
            f"Port {self.port}",
            f"ListenAddress {LOOPBACK}",
            f"HostKey {self.host_key}",
            f"PidFile {self.workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized}",
            "AuthenticationMethods publickey",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",  # key only; CI runs the suite as root
            "UsePAM no",
            "StrictModes no",  # the keys live in a temporary folder, not in ~/.ssh
            f"AllowUsers {self.user}",
            "Subsystem sftp internal-sftp",
            "LogLevel ERROR",
            "",
        ]))
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(parents=True, exist_ok=True)
        host_public = Path(f"{self.host_key}.pub").read_text().split()
        (ssh_dir / "known_hosts").write_text(f"[{LOOPBACK}]:{self.port} {host_public[0]} {host_public[1]}\n")
        self.root.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            # sshd started as root checks its privilege separation directory (systemd creates it for the
            # packaged service, which the tests do not use)
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        return [str(SSHD), "-D", "-e", "-f", str(self.config)]

    def ready(self) -> bool:
        if not port_open(self.port):
            return False
        with socket.create_connection((LOOPBACK, self.port), timeout=2) as sock:  # the banner, not just a port
            return sock.recv(64).startswith(b"SSH-2.0-")


# -- the GCS emulator with objects.move, run as ``python tests/storage_servers.py gcs PORT BUCKET`` ---------
def _move(request, response, storage, *args, **kwargs) -> None:
    """``objects.move`` within one bucket: the destination is the source's bytes, then the source is gone."""
    from http import HTTPStatus

    from gcp_storage_emulator.exceptions import NotFound
    from gcp_storage_emulator.handlers import objects

    bucket = request.params["bucket_name"]
    try:
        moved = objects._copy(request.base_url, storage, bucket, request.params["object_id"], bucket,
                              request.params["dest_object_id"])
    except NotFound:
        response.status = HTTPStatus.NOT_FOUND
        return
    objects._delete(storage, bucket, request.params["object_id"])
    response.json(moved)


def _run_gcs_emulator(port: int, bucket: str) -> None:
    from gcp_storage_emulator import server, settings

    move_route = (rf"^{settings.API_ENDPOINT}/b/(?P<bucket_name>[-.\w]+)/o/(?P<object_id>.*[^/]+)/moveTo/o/"
                  r"(?P<dest_object_id>.*[^/]+)$", {"POST": _move})
    server.HANDLERS = (move_route, *server.HANDLERS)  # before the generic object route, which would match too
    emulator = server.Server(LOOPBACK, port, in_memory=True, default_bucket=bucket)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    emulator.run()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "gcs":
        sys.exit("usage: storage_servers.py gcs PORT BUCKET")
    _run_gcs_emulator(int(sys.argv[2]), sys.argv[3])
