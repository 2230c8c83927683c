"""Option values that cannot work are refused by option parsing: exit 1, one error line, no
request sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import main
from tests.cli.recorder import Recorder

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "dedicated")


def run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    return int(exited.value.code or 0)


@pytest.mark.parametrize(
    ("command", "option", "value"),
    [
        ("plan", "--timeout", "0"),
        ("plan", "--timeout", "-1"),
        ("plan", "--timeout", "nan"),
        ("plan", "--timeout", "inf"),
        ("plan", "--timeout", "soon"),
        ("run", "--lock-timeout", "-1"),
        ("run", "--lock-timeout", "nan"),
        ("plan", "--parallelism", "0"),
        ("plan", "--parallelism", "65"),
        ("outputs", "--parallelism", "-3"),
        ("inactive", "--days", "0"),
        ("inactive", "--days", "-7"),
        ("inactive", "--days", "ninety"),
    ],
)
def test_out_of_range_values_are_refused_before_any_request(
    command: str,
    option: str,
    value: str,
    recorder: Recorder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run([command, EXAMPLE, "--base-url", recorder.url, option, value]) == 1
    err = capsys.readouterr().err
    assert f"Error: Invalid value for '{option}'" in err
    assert recorder.requests == []


@pytest.mark.parametrize("option", ["--timeout", "--lock-timeout"])
def test_in_range_values_are_taken(
    option: str, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    """The refusals above are about the values: these go on to ask the server."""
    assert run(["run", EXAMPLE, "--base-url", recorder.url, option, "0.5"]) == 1
    assert "HTTP 400" in capsys.readouterr().err
    assert recorder.requests


def test_inactive_refuses_to_move_users_to_an_agent_the_stack_does_not_have(
    recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["inactive", EXAMPLE, "--base-url", recorder.url, "--days", "30", "--move-to", "desk"]
    assert run(args) == 1
    assert capsys.readouterr().err == (
        "Error: --move-to 'desk': the stack has no shared agent of that name (shared agents: "
        "none)\n"
    )
    assert recorder.requests == []


@pytest.mark.parametrize(
    "url",
    ["localhost:8283", "ftp://host", "http://", "http://[::1", "http://host:99999", "http://h:0"],
)
def test_a_base_url_that_is_not_http_is_refused(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["plan", EXAMPLE, "--base-url", url]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        f"Error: Invalid value for '--base-url' (env var: 'LETTA_BASE_URL'): {url!r} is not an "
        "http:// or https:// URL"
    )


def test_a_refused_base_url_does_not_show_its_credentials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["plan", EXAMPLE, "--base-url", "ftp://user:s3cret@host"]) == 1
    err = capsys.readouterr().err
    assert "s3cret" not in err and "'ftp://***@host'" in err


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["up", "--timeout", "0"], "'--timeout'"),
        (["up", "--port", "70000"], "'--port'"),
        (["logs", "--lines", "-1"], "'-n' / '--lines'"),
    ],
)
def test_dev_server_options_are_checked(
    args: list[str], option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["dev-server", "--state-dir", str(tmp_path), *args]) == 1
    assert f"Invalid value for {option}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing was installed or started
