"""Helpers for tests that start `injectmap serve` in a child process."""

from __future__ import annotations

import socket
import subprocess
import threading


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: Panel prints this once the server's socket is bound and listening
LISTENING = "Launching server at"


def wait_until_listening(proc: subprocess.Popen, timeout_s: float) -> list[str]:
    """Block until the server prints that it listens (no polling); its output keeps being drained into
    the returned list. Fails with the log if the server exits first or is silent for ``timeout_s``."""
    lines: list[str] = []
    listening: list[bool] = []
    event = threading.Event()  # set on the listening line, or when the output ends (the server exited)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if LISTENING in line and not listening:
                listening.append(True)
                event.set()
        event.set()

    threading.Thread(target=pump, daemon=True).start()
    if not event.wait(timeout_s):
        raise AssertionError(f"the server did not listen within {timeout_s:.0f} s: {''.join(lines)[-3000:]!r}")
    if not listening:
        proc.wait(timeout=15)
        raise AssertionError(f"the server exited ({proc.returncode}): {''.join(lines)[-3000:]!r}")
    return lines


def stop(proc: subprocess.Popen) -> None:
    """End a server started by a test: terminate, and kill it if it has not gone within 15 s."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)
