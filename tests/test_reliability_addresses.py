"""Issue #16, also noted: a bad address or header is said in its own words, at once, and not retried.

A name that does not resolve, TLS spoken to a plain-HTTP server and a ``file://`` address used to
read "cannot connect" after two retries; a line break or an accented letter in a header or a key
was an "internal error". Each is now one line naming what to fix.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from conftest import run_moa
from groq_server import GroqServer
from test_reliability import REFS, use_config


def one_error_line(env: dict[str, str]) -> tuple[int, str]:
    """``moa ask``'s exit code and last stderr line, after checking nothing was retried."""
    proc = run_moa(["ask", *REFS, "q"], env)
    stderr = proc.stderr.decode()
    assert "retrying" not in stderr and "Traceback" not in stderr, stderr
    return proc.returncode, stderr.splitlines()[-1]


def test_a_host_that_does_not_resolve_is_named_and_not_retried(moa_env: dict[str, str]) -> None:
    try:
        socket.getaddrinfo("no-such-host.invalid", 80)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            pytest.skip("this machine cannot reach a DNS server: the failure is temporary there, and retried")
    moa_env["GROQ_BASE_URL"] = "http://no-such-host.invalid/openai/v1"
    code, line = one_error_line(moa_env)
    assert code == 1
    assert line.startswith("moa: error: cannot find the server no-such-host.invalid in DNS (")
    assert line.endswith("); check the address (all 2 reference models)")


def test_https_to_a_plain_http_server_says_so_and_is_not_retried(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    https = groq_server.base_url.replace("http://", "https://")
    moa_env["GROQ_BASE_URL"] = https
    code, line = one_error_line(moa_env)
    assert code == 1
    assert line == (
        f"moa: error: the TLS handshake with {https} failed (WRONG_VERSION_NUMBER); is it an http:// address? "
        "(all 2 reference models)"
    )
    assert groq_server.requests == []


def test_a_file_url_is_not_an_address(moa_env: dict[str, str], tmp_path: Path) -> None:
    moa_env["GROQ_BASE_URL"] = "file:///etc/passwd"
    code, line = one_error_line(moa_env)
    assert code == 1
    assert line == "moa: error: file:///etc/passwd is not an http:// or https:// address (all 2 reference models)"
    config = use_config(moa_env, tmp_path, '[providers.local]\nbase_url = "file:///etc/passwd"\n')
    code, line = one_error_line(moa_env)
    assert code == 2
    assert line == (
        f"moa: error: {config}:2: 'providers.local.base_url' must be an http:// or https:// URL, "
        'not "file:///etc/passwd"'
    )


@pytest.mark.parametrize("value", ["a\\r\\nX-Evil: 1", "café"])
def test_a_header_a_request_cannot_carry_is_a_config_error(
    moa_env: dict[str, str], tmp_path: Path, value: str
) -> None:
    text = f'[providers.local]\nbase_url = "http://127.0.0.1:1/v1"\nheaders = {{ X-T = "{value}" }}\n'
    config = use_config(moa_env, tmp_path, text)
    code, line = one_error_line(moa_env)
    assert code == 2
    assert line.startswith(f"moa: error: {config}:3: 'providers.local.headers.X-T' must be printable ASCII")
