"""A virtualenv holding the published Open edX subsidy client, for the test that runs it against this service.

`edx-enterprise-subsidy-client` 2.3.0 needs Python 3.12 (pyenv's 3.12.1 on these machines); the service runs on
3.11, so the client lives in its own virtualenv (`.venv-subsidy-client`, git-ignored), built on first use under
a lock (two test runs may share the checkout) and reused while its marker names the same version. Without a
Python 3.12 the test skips, unless CI or REQUIRE_SUBSIDY_CLIENT is set: then it fails.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLIENT_REQUIREMENT = "edx-enterprise-subsidy-client==2.3.0"
CLIENT_VENV = REPO / ".venv-subsidy-client"
CLIENT_MARKER = CLIENT_VENV / ".installed"  # holds CLIENT_REQUIREMENT, then the venv's `pip freeze`
CLIENT_VENV_LOCK = REPO / ".venv-subsidy-client.lock"  # outside the venv: `venv --clear` empties that
PYENV_VERSION = "3.12.1"


def _required() -> bool:
    return any(os.environ.get(name, "") not in ("", "0") for name in ("CI", "REQUIRE_SUBSIDY_CLIENT"))


def _unavailable(why: str):
    if _required():
        pytest.fail(f"CI/REQUIRE_SUBSIDY_CLIENT is set but {why}", pytrace=False)
    pytest.skip(why)


def _pyenv_env() -> dict[str, str]:
    return {**os.environ, "PYENV_VERSION": PYENV_VERSION}


def find_python312() -> str | None:
    """pyenv's Python 3.12.1 (the client requires Python >= 3.12), through its shim or at its usual place."""
    env = _pyenv_env()
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = [
        shutil.which("python3.12", path=env.get("PATH")),
        os.path.join(pyenv_root, "versions", PYENV_VERSION, "bin", "python3.12"),
        f"/root/.pyenv/versions/{PYENV_VERSION}/bin/python3.12",
    ]
    for candidate in dict.fromkeys(c for c in candidates if c):
        try:
            answer = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if answer.returncode == 0 and answer.stdout.strip() == "3.12":
            return candidate
    return None


def _venv_python() -> Path:
    return CLIENT_VENV / "bin" / "python"


def _venv_is_current() -> bool:
    try:
        return _venv_python().exists() and CLIENT_MARKER.read_text().splitlines()[0] == CLIENT_REQUIREMENT
    except (OSError, IndexError):
        return False


def _run_or_give_up(command: list[str], what: str, timeout: int) -> None:
    try:
        done = subprocess.run(command, env=_pyenv_env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        _unavailable(f"{what} took more than {timeout} s")
    if done.returncode != 0:
        _unavailable(f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def client_python() -> Path:
    """The Python of a virtualenv holding the published client, built on first use (under a lock: two test
    runs may share the checkout) and reused while its marker names the same version."""
    if _venv_is_current():
        return _venv_python()
    python312 = find_python312()
    if python312 is None:
        _unavailable(
            f"no Python 3.12 was found (PYENV_VERSION={PYENV_VERSION} python3.12, or "
            f"~/.pyenv/versions/{PYENV_VERSION}/bin/python3.12); {CLIENT_REQUIREMENT} needs Python >= 3.12"
        )
    with open(CLIENT_VENV_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _venv_is_current():
            if not _venv_python().exists():  # none yet, or a broken one (its Python gone): a new one
                _run_or_give_up([python312, "-m", "venv", "--clear", str(CLIENT_VENV)], f"{python312} -m venv", 300)
            pip = [str(_venv_python()), "-m", "pip", "--disable-pip-version-check"]
            _run_or_give_up([*pip, "install", "--quiet", CLIENT_REQUIREMENT], f"pip install {CLIENT_REQUIREMENT}", 900)
            freeze = subprocess.run([*pip, "freeze"], capture_output=True, text=True, timeout=120).stdout
            CLIENT_MARKER.write_text(f"{CLIENT_REQUIREMENT}\n{freeze}")
    return _venv_python()
