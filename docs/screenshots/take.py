"""Take the README's screenshots from a fresh demo city in headless Chromium.

    .venv/bin/python docs/screenshots/take.py

Builds the demo in a temporary SQLite file, serves it, and writes PNGs beside this file:
the dispatch page and the hotline form at a desk, the grid worker's page on a phone, and the
grid map with its named outlines, then closer in with its roads and buildings.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CIVICGRID_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
DESK = {"width": 1366, "height": 860}
PHONE = {"width": 390, "height": 844}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_city(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    env = {
        **os.environ,
        "CIVICGRID_DATABASE_URL": f"sqlite:///{folder / 'city.db'}",
        "CIVICGRID_ENVIRONMENT": "test",
        "CIVICGRID_INSTANCE_DIR": str(folder / "instance"),
    }
    demo = subprocess.run(
        [sys.executable, "-m", "civicgrid", "demo"], env=env, capture_output=True, text=True
    )
    demo.check_returncode()
    passwords = {}
    for line in demo.stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 5 and cells[2] and cells[3] and cells[2] != "username":
            passwords[cells[2]] = cells[3]
    return env, passwords


def serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "civicgrid", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return process, url
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not start: " + log.read_text(errors="replace"))


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("building the demo city …", file=sys.stderr)
        env, passwords = demo_city(folder)
        process, url = serve(env, folder / "server.log")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)

                def tab(size: dict[str, int], username: str | None = None):  # type: ignore[no-untyped-def]
                    context = browser.new_context(
                        locale="zh-CN", viewport=size, device_scale_factor=1
                    )
                    page = context.new_page()
                    if username:
                        page.goto(url + "/login")
                        page.fill("input[name=username]", username)
                        page.fill("input[name=password]", passwords[username])
                        page.click("button[type=submit]")
                        page.wait_for_url(lambda u: "/login" not in u)
                    return page

                page = tab(DESK, "dispatcher")
                page.goto(url + "/dispatch")
                page.wait_for_selector("#case-map[data-ready='true']", timeout=60_000)
                page.wait_for_timeout(1500)
                page.screenshot(path=str(HERE / "dispatch.png"))
                print("dispatch.png", file=sys.stderr)

                page.goto(url + "/hotline")
                page.wait_for_load_state("networkidle")
                page.fill("#hotline-phone", "13800138000")
                page.fill(
                    "#hotline-description", "小区门口的路灯坏了好几天，晚上很黑，老人出门不方便"
                )
                page.wait_for_timeout(2000)
                page.screenshot(path=str(HERE / "hotline.png"), full_page=True)
                print("hotline.png", file=sys.stderr)

                # The grid worker of the grid with the most open cases in the queue.
                listed = page.request.get(url + "/api/v1/cases?page_size=100").json()["items"]
                grids = [c["grid_code"] for c in listed]
                worker = f"gw{max(set(grids), key=grids.count)}"
                # Every grid worker of the demo shares the one password it prints.
                passwords[worker] = next(
                    pw for name, pw in passwords.items() if name.startswith("gw")
                )
                page = tab(PHONE, worker)
                page.goto(url + "/grid")
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(1000)
                page.screenshot(path=str(HERE / "grid-worker-phone.png"))
                print("grid-worker-phone.png", file=sys.stderr)

                page = tab(DESK)
                page.goto(url + "/")
                page.wait_for_selector("#map[data-ready='true']", timeout=60_000)
                page.wait_for_timeout(1000)
                page.screenshot(path=str(HERE / "map.png"))
                print("map.png", file=sys.stderr)
                # Closer in, the roads, buildings and door numbers the registry knows.
                page.evaluate("() => { const m = CivicMap.maps[0]; m.setView(m.getCenter(), 17); }")
                page.wait_for_timeout(3000)
                page.screenshot(path=str(HERE / "map-streets.png"))
                print("map-streets.png", file=sys.stderr)
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
