"""The secret key: named by production, otherwise generated once into the instance folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from civicgrid.cli import app as cli
from civicgrid.core import instance
from civicgrid.core.settings import Settings

posix_only = pytest.mark.skipif(os.name != "posix", reason="owner-only mode bits are POSIX")


@pytest.fixture(autouse=True)
def no_secret_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CIVICGRID_SECRET_KEY", raising=False)
    monkeypatch.delenv("CIVICGRID_ENVIRONMENT", raising=False)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@posix_only
def test_the_first_start_generates_a_secret_only_its_owner_can_read(tmp_path: Path) -> None:
    folder = tmp_path / "var"
    secret = Settings(instance_dir=folder).secret_key

    assert len(secret) >= 64
    assert (folder / "secret_key").read_text().strip() == secret
    assert mode(folder / "secret_key") == 0o600
    assert mode(folder) == 0o700
    assert os.listdir(folder) == ["secret_key"]


def test_later_starts_reuse_the_secret(tmp_path: Path) -> None:
    first = Settings(instance_dir=tmp_path).secret_key
    assert Settings(instance_dir=tmp_path).secret_key == first


def test_the_instance_folder_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIVICGRID_INSTANCE_DIR", str(tmp_path / "instance"))
    secret = Settings().secret_key
    assert (tmp_path / "instance" / "secret_key").read_text().strip() == secret


def test_a_named_secret_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    settings = Settings(instance_dir=tmp_path / "var", secret_key="n" * 40)
    assert settings.secret_key == "n" * 40
    assert not (tmp_path / "var").exists()


def test_servers_starting_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    folder = tmp_path / "var"
    start_at = time.time() + 3  # after every interpreter has started and imported
    program = (
        "import time; from civicgrid.core.settings import Settings; "
        f"time.sleep(max(0, {start_at} - time.time())); "
        "print(Settings().secret_key)"
    )
    env = {**os.environ, "CIVICGRID_INSTANCE_DIR": str(folder)}
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", program], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    secrets = {start.communicate(timeout=60)[0].strip() for start in starts}

    assert all(start.returncode == 0 for start in starts)
    assert secrets == {(folder / "secret_key").read_text().strip()}
    assert os.listdir(folder) == ["secret_key"]  # no candidate left behind


def test_a_process_that_loses_the_race_reads_the_winners_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner = "w" * 64
    link = os.link

    def another_process_links_first(source: str, target: Path) -> None:
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(descriptor, winner.encode() + b"\n")
        os.close(descriptor)
        link(source, target)

    monkeypatch.setattr(instance.os, "link", another_process_links_first)

    assert Settings(instance_dir=tmp_path).secret_key == winner
    assert os.listdir(tmp_path) == ["secret_key"]


def test_production_refuses_to_start_without_a_named_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="CIVICGRID_SECRET_KEY") as refused:
        Settings(environment="production", instance_dir=tmp_path / "var")
    assert "生产环境必须设置" in str(refused.value)
    assert not (tmp_path / "var").exists()  # no generated secret to fall back on


def test_production_ignores_a_generated_secret(tmp_path: Path) -> None:
    Settings(instance_dir=tmp_path)
    with pytest.raises(ValidationError, match="CIVICGRID_SECRET_KEY"):
        Settings(environment="production", instance_dir=tmp_path)


@posix_only
def test_a_secret_file_other_users_can_read_is_refused(tmp_path: Path) -> None:
    Settings(instance_dir=tmp_path)
    path = tmp_path / "secret_key"
    path.chmod(0o644)

    with pytest.raises(ValidationError) as refused:
        Settings(instance_dir=tmp_path)
    assert str(path) in str(refused.value)
    assert f"chmod 600 {path}" in str(refused.value)


@posix_only
def test_the_command_line_names_the_unsafe_file_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Settings(instance_dir=tmp_path)
    path = tmp_path / "secret_key"
    path.chmod(0o640)
    monkeypatch.setenv("CIVICGRID_INSTANCE_DIR", str(tmp_path))

    result = CliRunner().invoke(cli, ["user", "list", "--db", f"sqlite:///{tmp_path / 'x.db'}"])

    assert result.exit_code == 2
    assert "chmod 600" in result.output
    assert "secret_key" in result.output
    assert not (tmp_path / "x.db").exists()


def test_a_secret_file_too_short_to_be_safe_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text("short\n")
    path.chmod(0o600)

    with pytest.raises(ValidationError, match="fewer than 32 characters"):
        Settings(instance_dir=tmp_path)
