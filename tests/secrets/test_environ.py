"""The operator decides which environment variables a stack reads: only the patterns it
allows, never the credentials of letta-apply or of CI runners, and a refused name is refused
the same way whether or not the variable is set."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.environ import ALLOW_VARIABLE, EnvGrant, EnvRefused
from reconciler.manifest import load_desired
from tests.cli import recorder as recording
from tests.cli.recorder import Recorder

CREDENTIALS = ["LETTA_API_KEY", "LETTA_APPLY_KEY", "GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN"]


def test_only_the_allowed_patterns_are_readable() -> None:
    grant = EnvGrant.from_operator(["SHOP_*", "ORDERS_TOKEN"], {"SHOP_A": "a", "OTHER": "o"})
    assert grant.read("SHOP_A") == "a"
    assert grant.read("ORDERS_TOKEN") is None  # allowed, not set
    with pytest.raises(EnvRefused, match="not one the operator lets manifests read"):
        grant.read("OTHER")


def test_patterns_come_from_the_option_and_the_environment_variable() -> None:
    environ = {ALLOW_VARIABLE: "A_*, B_TOKEN  C", "A_X": "1", "B_TOKEN": "2", "C": "3"}
    grant = EnvGrant.from_operator(["D"], environ)
    assert grant.patterns == ("D", "A_*", "B_TOKEN", "C")
    assert [grant.read(n) for n in ("A_X", "B_TOKEN", "C", "D")] == ["1", "2", "3", None]


@pytest.mark.parametrize("name", [*CREDENTIALS, "RUNNER_TEMP", "letta_api_key"])
def test_credentials_are_never_readable_even_when_allowed(name: str) -> None:
    grant = EnvGrant.from_operator(["*"], {name: "secret"})
    with pytest.raises(EnvRefused, match="a manifest can never read it"):
        grant.read(name)


def test_a_refusal_does_not_tell_whether_the_variable_is_set() -> None:
    refusals = []
    for environ in ({"CI_DEPLOY_TOKEN": "held"}, {}):
        with pytest.raises(EnvRefused) as caught:
            EnvGrant.from_operator([], environ).read("CI_DEPLOY_TOKEN")
        refusals.append(str(caught.value))
    assert refusals[0] == refusals[1]


MANIFEST = """\
apiVersion: letta-apply/v1
stack: acme
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
agents:
  desk:
    secrets:
      TOKEN: {{valueFromEnv: {variable}}}
"""


def write(tmp_path: Path, variable: str) -> Path:
    folder = tmp_path / "stack"
    folder.mkdir()
    (folder / "stack.yaml").write_text(MANIFEST.format(variable=variable), encoding="utf-8")
    return folder


@pytest.mark.parametrize("variable", CREDENTIALS)
def test_a_manifest_naming_a_credential_does_not_validate(tmp_path: Path, variable: str) -> None:
    folder = write(tmp_path, variable)
    with pytest.raises(Exception) as caught:
        load_desired([folder])
    assert str(caught.value) == (
        f"{folder / 'stack.yaml'}:7:29: environment variable {variable} is a credential of "
        "letta-apply or the CI runner (LETTA_*, GITHUB_*, ACTIONS_*, RUNNER_*): a manifest "
        "can never read it"
    )


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with recording.running() as server:
        yield server


def run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    return int(exited.value.code or 0)


@pytest.mark.parametrize("held", [True, False])
def test_a_variable_the_operator_did_not_allow_stops_the_plan_before_any_request(
    tmp_path: Path,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    held: bool,
) -> None:
    folder = write(tmp_path, "DEPLOY_TOKEN")
    monkeypatch.delenv(ALLOW_VARIABLE, raising=False)
    if held:
        monkeypatch.setenv("DEPLOY_TOKEN", "held-by-ci")
    else:
        monkeypatch.delenv("DEPLOY_TOKEN", raising=False)
    code = run(["plan", str(folder), "--base-url", recorder.url, "--allow-env", "SHOP_*"])
    err = capsys.readouterr().err
    assert code == 1 and recorder.requests == []
    assert (
        f"{folder / 'stack.yaml'}:7:29: secret TOKEN: environment variable DEPLOY_TOKEN is " in err
    )
    assert "not one the operator lets manifests read" in err
    assert "not set" not in err and "held-by-ci" not in err


def test_each_refused_variable_is_a_line_of_its_own(
    tmp_path: Path,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = write(tmp_path, "DEPLOY_TOKEN")
    extra = "      OTHER: {valueFromEnv: DEPLOY_OTHER}\n"
    (folder / "stack.yaml").write_text(MANIFEST.format(variable="DEPLOY_TOKEN") + extra)
    monkeypatch.delenv(ALLOW_VARIABLE, raising=False)
    code = run(["plan", str(folder), "--base-url", recorder.url])
    lines = capsys.readouterr().err.splitlines()
    assert code == 1 and recorder.requests == []
    assert lines[0].startswith(f"Error: {folder / 'stack.yaml'}:7:29: secret TOKEN: "), lines
    assert lines[1].startswith(f"{folder / 'stack.yaml'}:8:29: secret OTHER: "), lines
    assert not any("\\x0a" in line for line in lines)


def test_an_allowed_variable_is_read(
    tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Allowed by the environment variable, the secret passes the gate and the plan goes on
    to the server (which this stand-in refuses)."""
    folder = write(tmp_path, "DEPLOY_TOKEN")
    monkeypatch.setenv(ALLOW_VARIABLE, "DEPLOY_*")
    monkeypatch.setenv("DEPLOY_TOKEN", "value")
    monkeypatch.setenv("LETTA_APPLY_KEY", "k" * 32)  # in CI a stack with secrets needs a key
    run(["plan", str(folder), "--base-url", recorder.url])
    assert recorder.requests


def test_no_module_but_the_gate_reads_a_variable_it_did_not_name_itself() -> None:
    """Structural: outside `reconciler/environ.py` the environment is read only by literal
    names (operator settings such as LETTA_API_KEY); a name a manifest gives goes through
    `EnvGrant.read`."""
    package = Path(__file__).resolve().parents[2] / "reconciler"
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "environ.py" or "devserver" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = _name_read(node)
            if name is not None and not _fixed(name):
                found.append(f"{path.relative_to(package)}:{node.lineno}")  # type: ignore[attr-defined]
    assert found == []


def _name_read(node: ast.AST) -> ast.expr | None:
    """The name an `environ.get(...)`, `getenv(...)` or `environ[...]` reads, if `node` is one."""
    if isinstance(node, ast.Call) and _reads_environ(node.func) and node.args:
        return node.args[0]
    if isinstance(node, ast.Subscript) and _is_environ(node.value):
        return node.slice
    return None


def _fixed(name: ast.expr) -> bool:
    """A literal, or a module's constant (`KEY_VARIABLE`)."""
    return isinstance(name, ast.Constant) or (isinstance(name, ast.Name) and name.id.isupper())


def _is_environ(node: ast.expr) -> bool:
    return ast.unparse(node) in ("os.environ", "environ", "self._environ")


def _reads_environ(func: ast.expr) -> bool:
    text = ast.unparse(func)
    return text in ("os.getenv", "getenv") or (
        text.endswith(".get") and _is_environ(func.value)  # type: ignore[attr-defined]
    )
