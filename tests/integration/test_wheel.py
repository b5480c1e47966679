"""A wheel built from the repository, installed alone in a fresh environment, serves every
page: the package data carries every template, static file, data file, catalogue and
migration, not only those the editable install finds in the source tree.

Runs once, on SQLite, whatever databases the rest of the suite uses (it asks for none of
the `databases` fixtures); about half a minute.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.serving import demo_passwords, served

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "src" / "civicgrid"

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the environment's layout is POSIX")


def run(*command: str | Path, **options: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=300,
        **options,  # type: ignore[call-overload]
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done


def shipped(folder: Path) -> set[str]:
    """The files of the package that an installation must have; compiled files, hidden
    files (make's markers) and translators' templates (.pot) are not read at run time."""
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and not path.name.startswith(".")
        and path.suffix not in {".pyc", ".pot"}
    }


@dataclass
class Installed:
    folder: Path  # the fresh environment
    package: Path  # civicgrid inside it
    env: dict[str, str]

    def civicgrid(self, *args: str) -> list[str]:
        return [str(self.folder / "bin" / "civicgrid"), *args]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    # Built from a copy, so the build leaves no build/ or egg-info in the working tree.
    source = tmp / "source"
    (source / "src").mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        SOURCE, source / "src" / "civicgrid", ignore=shutil.ignore_patterns("__pycache__")
    )
    wheels = tmp / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    run(*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", wheels, source)
    (wheel,) = wheels.glob("civicgrid-*.whl")

    folder = tmp / "env"
    run(sys.executable, "-m", "venv", "--without-pip", folder)
    python = folder / "bin" / "python"
    run(*pip, "--python", python, "install", "--no-deps", "--no-index", "--quiet", wheel)
    # The dependencies installed beside the editable CivicGrid, as plain path entries: the
    # .pth files there (the editable install's among them) are not run from such a path.
    purelib = Path(
        run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip()
    )
    ours = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (purelib / "civicgrid_test_dependencies.pth").write_text("\n".join(ours) + "\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIVICGRID_", "PYTHON"))}
    env.update(
        CIVICGRID_INSTANCE_DIR=str(tmp / "instance"),
        CIVICGRID_SUGGESTION_MODEL_PATH="",
        CIVICGRID_SCHEDULER_INTERVAL_SECONDS="0",
        CIVICGRID_RETRAIN_EVERY_HOURS="0",
        CIVICGRID_WARNING_SCAN_MINUTES="0",
    )
    where = run(python, "-c", "import civicgrid; print(civicgrid.__file__)", env=env, cwd=tmp)
    package = Path(where.stdout.strip()).parent
    assert package.is_relative_to(folder), f"civicgrid imported from {package}, not the wheel"
    return Installed(folder, package, env)


@dataclass
class Server:
    url: str
    log: Path
    passwords: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def server(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("served")
    db = f"sqlite:///{tmp / 'city.db'}"
    demo = run(
        *installed.civicgrid("demo", "--db", db, "--cases", "30", "--registry-people", "200"),
        env=installed.env,
        cwd=tmp,
    )
    passwords = demo_passwords(demo.stdout)
    log = tmp / "serve.log"

    def serve(port: int) -> list[str]:
        return installed.civicgrid("serve", "--db", db, "--port", str(port))

    with served(serve, installed.env, log, cwd=tmp, seconds=120) as url:
        yield Server(url, log, passwords)


class Visitor:
    """One person's browser: a cookie jar, logged in or not."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def log_in(self, username: str) -> Visitor:
        # As a browser does: the form first, for its CSRF token (and the cookie it goes with).
        _, login_page = self.open("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page)
        assert token, "the login form has no CSRF token"
        form = {
            "username": username,
            "password": self.server.passwords[username],
            "csrf_token": token.group(1),
        }
        status, page = self.open("/login", urllib.parse.urlencode(form).encode())
        assert status == 200 and 'action="/login"' not in page, f"{username} could not log in"
        return self

    def open(self, path: str, data: bytes | None = None) -> tuple[int, str]:
        try:
            with self.opener.open(self.server.url + path, data, timeout=60) as answer:
                return answer.status, answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace")


def first_link(page: str, pattern: str) -> str:
    found = re.search(rf'href="({pattern})"', page)
    assert found, f"no link like {pattern}"
    return found.group(1)


def test_the_wheel_carries_every_file_of_the_package(installed: Installed) -> None:
    missing = shipped(SOURCE) - shipped(installed.package)
    assert not missing, f"the wheel lacks {sorted(missing)}"


def test_the_installed_wheel_serves_every_page(installed: Installed, server: Server) -> None:
    answers: dict[str, int] = {}

    def visit(who: Visitor, *paths: str) -> list[str]:
        pages = []
        for path in paths:
            answers[path], page = who.open(path)
            pages.append(page)
        return pages

    anyone = Visitor(server)
    grid_worker = next(name for name in server.passwords if name.startswith("gw"))
    grid = grid_worker.removeprefix("gw")
    visit(anyone, "/", "/login", "/signup", "/report", "/track", "/transparency")
    visit(anyone, f"/partials/area/{grid}", f"/partials/search?q={grid}")
    visit(anyone, "/report/nearby?category=CR01&lat=30.66&lon=104.06")
    visit(Visitor(server).log_in("resident"), "/report")
    visit(Visitor(server).log_in(grid_worker), "/grid")
    visit(Visitor(server).log_in("handler"), "/inbox")
    dispatcher = Visitor(server).log_in("dispatcher")
    dispatch, queue = visit(dispatcher, "/dispatch", "/dispatch/queue")
    visit(dispatcher, first_link(dispatch + queue, r"/cases/\d+"))
    cadre = Visitor(server).log_in("cadre")
    _, registry = visit(cadre, "/warnings", "/registry")
    (record,) = visit(cadre, first_link(registry, r"/registry/people/\d+"))
    visit(cadre, first_link(record, r"/registry/entities/\d+"))
    visit(Visitor(server).log_in("data_admin"), "/insight", "/insight/hot", "/insight/model")

    # Every static file of the source tree, the browser libraries too when make has copied
    # them in (src/civicgrid/web/static/vendor).
    static = SOURCE / "web" / "static"
    for name in sorted(shipped(static)):
        visit(anyone, f"/static/{name}")

    failed = {path: status for path, status in answers.items() if status != 200}
    assert not failed, f"not served: {failed}\n{server.log.read_text()[-4000:]}"
    status, _ = anyone.open("/no-such-page")  # the error page has its template too
    assert status == 404
    log = server.log.read_text()
    assert "TemplateNotFound" not in log and "Traceback" not in log, log[-4000:]
