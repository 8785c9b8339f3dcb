"""The privileged helper's protocol end to end, without ever acting on the host: the root
side always gets a recording or dry-run executor, and sockets live in tmp_path."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pwd
import queue
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from appliance.privileged import claimcopy
from appliance.privileged.client import HelperError, call
from appliance.privileged.commands import Plan, Run
from appliance.privileged.connection import allowed_uids, handle_connection, socket_from_systemd
from appliance.privileged.executor import DryRun, StepFailed
from appliance.privileged.protocol import MAX_LINE, Reply
from tests.integration.dry_run_helper import ME

SECRET = "correct horse battery"


class Recording:
    """An executor that only remembers what it was asked to do."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.plans: list[Plan] = []
        self.fail = fail

    def execute(self, plan: Plan) -> str:
        self.plans.append(plan)
        if self.fail is not None:
            raise self.fail
        return "done"


def exchange(
    payload: bytes,
    executor: Recording,
    *,
    allowed: frozenset[int] = ME,
    deadline_s: float = 5,
    close_after_send: bool = False,
) -> dict[str, object]:
    """Send `payload` to handle_connection over a socketpair; return the decoded reply."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        worker = threading.Thread(
            target=handle_connection,
            args=(theirs,),
            kwargs={"executor": executor, "allowed": allowed, "deadline_s": deadline_s},
        )
        worker.start()
        with contextlib.suppress(OSError):  # a refused peer is not read at all
            ours.sendall(payload)
        if close_after_send:
            ours.shutdown(socket.SHUT_WR)
        ours.settimeout(10)
        data = b""
        while not data.endswith(b"\n"):
            chunk = ours.recv(4096)
            if not chunk:
                break
            data += chunk
        ours.shutdown(socket.SHUT_WR)  # done: the helper stops listening at once
        worker.join(10)
    reply: dict[str, object] = json.loads(data)
    return reply


def request(command: str, *args: str, secret: str | None = None) -> bytes:
    body: dict[str, object] = {"command": command, "args": list(args)}
    if secret is not None:
        body["secret"] = secret
    return json.dumps(body).encode() + b"\n"


def test_a_valid_request_runs_its_plan_and_answers() -> None:
    executor = Recording()
    reply = exchange(request("set-hostname", "office"), executor)
    assert reply == {"ok": True, "message": "done"}
    assert executor.plans[0][0] == Run(("hostnamectl", "set-hostname", "office"))


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        (request("set-hostname", "bad_name"), "invalid_argument", "hostname: "),
        (request("wifi", "DE", "Office"), "invalid_argument", "wifi: needs a passphrase"),
        (request("wifi", "DE", "Office", secret="short"), "invalid_argument", "passphrase: "),
        (request("reboot", "now"), "invalid_argument", "reboot: expects no arguments"),
        (request("rm", "-rf", "/"), "unknown_command", "unknown command 'rm'"),
        (b"reboot\n", "bad_request", "bad request: not UTF-8 JSON"),
        (b'{"command": "reboot", "sudo": 1}\n', "bad_request", "expected keys"),
        (request("reboot") + request("reboot"), "bad_request", "one request per connection"),
        (b"{" + b" " * MAX_LINE + b"}\n", "bad_request", "longer than"),
    ],
)
def test_bad_requests_change_nothing(payload: bytes, error: str, message: str) -> None:
    executor = Recording()
    reply = exchange(payload, executor)
    assert reply["ok"] is False and reply["error"] == error
    assert message in str(reply["message"])
    assert executor.plans == []


def test_a_caller_that_is_neither_root_nor_pychat_is_refused() -> None:
    executor = Recording()
    reply = exchange(request("reboot"), executor, allowed=frozenset({os.getuid() + 4242}))
    assert reply["error"] == "forbidden" and executor.plans == []


def test_a_silent_or_slow_caller_is_cut_off() -> None:
    executor = Recording()
    reply = exchange(b'{"command": "reb', executor, deadline_s=0.3)
    assert reply["error"] == "bad_request" and "in time" in str(reply["message"])
    reply = exchange(b'{"command": "reb', executor, close_after_send=True)
    assert reply["error"] == "bad_request" and "closed" in str(reply["message"])
    assert executor.plans == []


def test_failures_are_reported_without_internals(caplog: pytest.LogCaptureFixture) -> None:
    reply = exchange(request("reboot"), Recording(StepFailed("systemctl failed (exit status 1)")))
    assert reply == {"ok": False, "error": "failed", "message": "systemctl failed (exit status 1)"}
    with caplog.at_level(logging.ERROR):
        reply = exchange(request("reboot"), Recording(RuntimeError("/secret/path exploded")))
    assert reply == {
        "ok": False,
        "error": "failed",
        "message": "reboot failed; see the helper's log",
    }
    assert "exploded" in caplog.text  # in the journal, not in the reply


def test_the_passphrase_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="appliance.privileged"):
        reply = exchange(request("wifi", "DE", "Office", secret=SECRET), Recording())
        exchange(request("wifi", "de", "Office", secret=SECRET), Recording())
    assert reply["ok"] is True
    assert "wifi DE Office" in caplog.text and SECRET not in caplog.text


def test_allowed_uids() -> None:
    assert allowed_uids("root") == frozenset({0})
    assert allowed_uids("no-such-user-pychat") == frozenset({0})


# --- the real entry points, as systemd and the server use them ---------------------------


def test_serve_connection_takes_the_socket_from_systemd() -> None:
    """`python -m appliance.privileged serve-connection`, given fd 3 as systemd does."""
    me = pwd.getpwuid(os.getuid()).pw_name
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    # What systemd does before exec: the connection on fd 3, LISTEN_PID naming the process.
    launcher = (
        "import os, sys\n"
        "os.dup2(int(sys.argv[1]), 3)\n"
        "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1')\n"
        "os.execv(sys.executable, [sys.executable, '-I', '-m', 'appliance.privileged', "
        "'serve-connection', '--dry-run', '--allow-user', sys.argv[2]])\n"
    )
    with ours:
        proc = subprocess.Popen(
            [sys.executable, "-c", launcher, str(theirs.fileno()), me],
            pass_fds=(theirs.fileno(),),
            stderr=subprocess.PIPE,
        )
        theirs.close()
        ours.sendall(request("wifi", "DE", "Office", secret=SECRET))
        ours.settimeout(30)
        reply = json.loads(ours.makefile("rb").readline())
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert reply["ok"] is True
    assert str(reply["message"]).startswith(
        "dry run: write /etc/modprobe.d/pychat-wifi-country.conf"
    )
    assert SECRET.encode() not in stderr and b"wifi DE Office" in stderr


def test_serve_connection_refuses_to_run_without_a_socket() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "appliance.privileged", "serve-connection", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1 and "LISTEN_FDS" in done.stderr


def test_socket_from_systemd_checks_the_environment() -> None:
    with pytest.raises(RuntimeError):
        socket_from_systemd({"LISTEN_PID": "1", "LISTEN_FDS": "1"})
    env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b"}
    with pytest.raises(RuntimeError):
        socket_from_systemd(env)
    assert env == {}  # not passed on to the programs the plan runs


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appliance.privileged", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_command_line_asks_the_helper(helper: tuple[Path, queue.Queue[Reply]]) -> None:
    path, replies = helper
    done = cli("--socket", str(path), "set-hostname", "office")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "dry run: run hostnamectl set-hostname office; edit /etc/hosts\n"
    done = cli("--socket", str(path), "wifi", "DE", "Büro", stdin=SECRET + "\n")
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout
    assert [replies.get(timeout=10).ok for _ in range(2)] == [True, True]


def test_the_command_line_validates_before_connecting(
    helper: tuple[Path, queue.Queue[Reply]],
) -> None:
    path, replies = helper
    done = cli("--socket", str(path), "set-hostname", "Bad Name")
    assert done.returncode == 2 and "hostname: " in done.stderr
    done = cli("--socket", str(path), "wifi", "DE", "Office", stdin="short\n")
    assert done.returncode == 2 and "passphrase: " in done.stderr
    assert replies.empty()  # neither connected


def test_check_shows_the_plan_and_sends_nothing() -> None:
    done = cli(
        "--socket", "/nonexistent/helper.sock", "--check", "wifi", "GB", "Office", stdin=SECRET
    )
    assert done.returncode == 0, done.stderr
    assert "run iw reg set GB" in done.stdout and SECRET not in done.stdout


def test_without_a_helper_the_command_line_says_so(tmp_path: Path) -> None:
    done = cli("--socket", str(tmp_path / "absent.sock"), "reboot")
    assert done.returncode == 1 and "cannot reach the privileged helper" in done.stderr


async def test_the_server_side_client(helper: tuple[Path, queue.Queue[Reply]]) -> None:
    path, replies = helper
    assert await call("shutdown", socket_path=path) == "dry run: run systemctl --no-block poweroff"
    with pytest.raises(HelperError) as e:
        await call("set-hostname", ["-bad"], socket_path=path)
    assert e.value.code == "invalid_argument"
    assert replies.get(timeout=10).ok and replies.empty()  # only the first was sent
    with pytest.raises(HelperError) as e:
        await call("reboot", socket_path=path.with_name("absent.sock"))
    assert e.value.code == "unavailable"


async def test_the_client_reports_what_the_helper_refused(tmp_path: Path) -> None:
    """A helper that refuses (here: it does not serve this uid) → HelperError(code)."""
    path = tmp_path / "strict.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()

    def serve_once() -> None:
        conn, _ = listener.accept()
        with conn:
            handle_connection(conn, executor=DryRun(), allowed=frozenset({os.getuid() + 1}))

    thread = threading.Thread(target=serve_once)
    thread.start()
    try:
        with pytest.raises(HelperError) as e:
            await call("reboot", socket_path=path)
        assert e.value.code == "forbidden"
    finally:
        thread.join(10)
        listener.close()


# --- the claim code copy ------------------------------------------------------------------


def write_code(path: Path, text: str = "ABCD-EFGH\n") -> Path:
    path.write_text(text)
    path.chmod(0o400)
    return path


def test_the_claim_code_is_copied_and_removed_with_its_source(tmp_path: Path) -> None:
    source, dest = write_code(tmp_path / "claim-code.txt"), tmp_path / "boot" / "code.txt"
    dest.parent.mkdir()
    assert claimcopy.sync_claim_code(source, dest, owner_uid=os.getuid()).startswith("copied")
    assert dest.read_text().startswith("Pychat claim code: ABCD-EFGH\n")
    source.unlink()
    assert claimcopy.sync_claim_code(source, dest, owner_uid=os.getuid()).startswith("removed")
    assert not dest.exists()
    assert claimcopy.sync_claim_code(source, dest, owner_uid=os.getuid()) == "no claim code"


@pytest.mark.parametrize(
    "content",
    ["ABCD-EFGH-IJKL\n", "root:x:0:0::/root:/bin/bash\n", "abcd-efgh\n", "ABCD-EFG0\n", "\xff" * 9],
)
def test_only_a_claim_code_is_ever_copied(tmp_path: Path, content: str) -> None:
    source = tmp_path / "claim-code.txt"
    source.write_bytes(content.encode("latin-1"))
    dest = tmp_path / "code.txt"
    with pytest.raises(ValueError, match="not a claim code"):
        claimcopy.sync_claim_code(source, dest, owner_uid=os.getuid())
    assert not dest.exists()


def test_the_source_is_read_with_suspicion(tmp_path: Path) -> None:
    real = write_code(tmp_path / "real.txt")
    link = tmp_path / "claim-code.txt"
    link.symlink_to(real)
    with pytest.raises(ValueError, match="cannot open"):
        claimcopy.read_claim_code(link, owner_uid=os.getuid())
    with pytest.raises(ValueError, match="not owned by"):
        claimcopy.read_claim_code(real, owner_uid=os.getuid() + 1)
    big = tmp_path / "big.txt"
    big.write_text("A" * 100)
    with pytest.raises(ValueError, match="too large"):
        claimcopy.read_claim_code(big, owner_uid=os.getuid())
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="regular file"):
        claimcopy.read_claim_code(fifo, owner_uid=os.getuid())
