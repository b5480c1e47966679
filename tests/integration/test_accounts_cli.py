"""`civicgrid user …`: accounts are created with clear errors for every mistake."""

from typing import Any

from typer.testing import CliRunner

from civicgrid.cli import app as cli
from tests.conftest import City


def run(city: City, *args: str) -> Any:
    return CliRunner().invoke(cli, [*args, "--db", city.platform.settings.database_url])


def test_an_admin_adds_a_handler_bound_to_a_department(city: City, city_client: Any) -> None:
    result = run(
        city,
        "user",
        "add",
        "li.handler",
        "--role",
        "handler",
        "--password",
        "long-enough-pw",
        "--department",
        "990101-STJ",
    )
    assert result.exit_code == 0, result.output
    token = city_client.post(
        "/api/v1/auth/token", data={"username": "li.handler", "password": "long-enough-pw"}
    ).json()["access_token"]
    me = city_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert (me["department_code"], me["area_code"]) == ("990101-STJ", "990101")


def test_mistakes_are_explained(city: City) -> None:
    cases = [
        (["--role", "mayor", "--password", "long-enough-pw"], "未知角色“mayor”"),
        (["--role", "resident", "--password", "short"], "密码至少需要 8 个字符"),
        (["--role", "grid_worker", "--password", "long-enough-pw"], "必须指定管辖区域"),
        (
            ["--role", "grid_worker", "--password", "long-enough-pw", "--area", "990100"],
            "网格员的管辖区域必须是网格",
        ),
        (
            ["--role", "cadre", "--password", "long-enough-pw", "--area", "NOPE"],
            "区域编码 NOPE 不存在",
        ),
        (["--role", "handler", "--password", "long-enough-pw"], "必须指定部门"),
        (["--role", "admin", "--password", "long-enough-pw"], "用户名 admin 已存在"),
    ]
    for options, message in cases:
        name = "admin" if "admin" in options else "someone"
        result = run(city, "user", "add", name, *options)
        assert result.exit_code == 1, (options, result.output)
        assert message in result.output, (options, result.output)


def test_a_password_can_be_reset(city: City, city_client: Any) -> None:
    assert (
        run(
            city, "user", "add", "wang", "--role", "resident", "--password", "first-pass-1"
        ).exit_code
        == 0
    )
    assert run(city, "user", "passwd", "wang", "--password", "second-pass-2").exit_code == 0
    response = city_client.post(
        "/api/v1/auth/token", data={"username": "wang", "password": "second-pass-2"}
    )
    assert response.status_code == 200


def test_a_department_outside_the_accounts_area_is_refused_naming_the_field(
    city: City,
) -> None:
    outside = run(
        city,
        "user",
        "add",
        "zhou.handler",
        "--role",
        "handler",
        "--password",
        "long-enough-pw",
        "--department",
        "990101-STJ",
        "--area",
        "990102",
    )
    assert outside.exit_code == 1, outside.output
    assert "department: 部门 990101-STJ 位于 990101，不在所给区域 990102 之内" in outside.output
    # A department inside the area given is what the area is for.
    inside = run(
        city,
        "user",
        "add",
        "zhou.handler",
        "--role",
        "handler",
        "--password",
        "long-enough-pw",
        "--department",
        "990101-STJ",
        "--area",
        "990101",
    )
    assert inside.exit_code == 0, inside.output
