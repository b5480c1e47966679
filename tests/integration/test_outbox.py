"""One outbox: every message is written with the change that causes it and delivered by
one loop, to the log, to an SMTP server and to an HTTP webhook (both started here), with
retries that wait longer each time; units hear of new work, not only reporters."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from civicgrid.bootstrap import Platform, transports_for
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.outbox import (
    MAX_ATTEMPTS,
    SIGNATURE_HEADER,
    Delivery,
    LogTransport,
    MessageChannel,
    Outbox,
    OutboxMessage,
    SmtpTransport,
    Transports,
    WebhookTransport,
    deliver_due,
    outbox,
    retry_wait,
)
from tests.conftest import City, settings_for
from tests.integration.test_cases import act, first_grid, report

T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def message(
    channel: MessageChannel, address: str, body: str = "您反映的问题已受理", at: datetime = T0
) -> OutboxMessage:
    return OutboxMessage(
        record_kind="case",
        record_id=1,
        recipient="reporter:1",
        channel=channel,
        address=address,
        body=body,
        created_at=at,
    )


def stored(platform: Platform, *messages: OutboxMessage) -> list[int]:
    with UnitOfWork(platform.session_factory) as uow:
        Outbox(uow.session).add(list(messages))
        uow.commit()
        return [m.id or 0 for m in messages]


def deliver(platform: Platform, transports: Transports, now: datetime = T0) -> Any:
    with UnitOfWork(platform.session_factory) as uow:
        return deliver_due(uow, transports, now)


def states(platform: Platform) -> list[tuple[str, int, str]]:
    with UnitOfWork(platform.session_factory) as uow:
        return [
            (m.state.value, m.attempts, m.last_error[:30])
            for m in uow.session.execute(select(OutboxMessage).order_by(outbox.c.id)).scalars()
        ]


# ------------------------------------------------------------------ local receivers


@dataclass
class Mailbox:
    received: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    with socket.socket() as probe:  # a free port (the controller checks it can connect)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@dataclass
class Receiver:
    """A department's system, or an SMS gateway: records what it is sent; answers
    FAIL_WITH to the first FAILURES posts."""

    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    failures: int = 0
    fail_with: int = 503


@pytest.fixture
def webhook() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if receiver.failures > 0:
                receiver.failures -= 1
                self.send_response(receiver.fail_with)
            else:
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.posts.append((headers, body))
                self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver, f"http://127.0.0.1:{server.server_address[1]}/new-work"
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------ delivering


def test_messages_go_to_the_log_by_default_and_are_sent_once(
    scratch: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    stored(scratch, message(MessageChannel.SMS, "13800001111"), message(MessageChannel.WEB, "li"))
    with caplog.at_level("INFO", logger="civicgrid.notify"):
        report_ = deliver(scratch, Transports())
    assert (report_.sent, report_.retrying, report_.failed) == (2, 0, 0)
    # The server's log names the recipient masked, as every reader but her staff sees her.
    assert "138****1111" in caplog.text and "13800001111" not in caplog.text
    assert "您反映的问题已受理" in caplog.text
    assert states(scratch) == [("sent", 1, ""), ("sent", 1, "")]
    assert deliver(scratch, Transports()).sent == 0  # never twice


def test_an_email_goes_out_over_smtp(scratch: Platform, smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    stored(scratch, message(MessageChannel.EMAIL, "wang.fang@example.com", "案件 12 已办结"))
    transports = Transports({MessageChannel.EMAIL: SmtpTransport("127.0.0.1", port)})
    assert deliver(scratch, transports).sent == 1
    (envelope,) = mailbox.received
    assert envelope.rcpt_tos == ["wang.fang@example.com"]
    mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert mail.get_content().strip() == "案件 12 已办结"


def test_the_settings_choose_smtp_and_an_sms_webhook(
    scratch: Platform, smtp_server: tuple[Mailbox, int], webhook: tuple[Receiver, str]
) -> None:
    mailbox, port = smtp_server
    receiver, url = webhook
    settings = settings_for(scratch.settings.database_url).model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "sms_webhook_url": url}
    )
    stored(
        scratch,
        message(MessageChannel.EMAIL, "li@example.com"),
        message(MessageChannel.SMS, "13900002222"),
    )
    assert deliver(scratch, transports_for(settings)).sent == 2
    assert len(mailbox.received) == 1
    (_, body) = receiver.posts[0]
    sent = json.loads(body)
    assert (sent["channel"], sent["to"], sent["body"]) == (
        "sms",
        "13900002222",
        "您反映的问题已受理",
    )


def test_a_webhook_post_is_signed_when_a_secret_is_set(
    scratch: Platform, webhook: tuple[Receiver, str]
) -> None:
    receiver, url = webhook
    stored(scratch, message(MessageChannel.WEBHOOK, url, "新案件 3 已派给贵单位"))
    transports = Transports({MessageChannel.WEBHOOK: WebhookTransport(secret="s3cret")})
    assert deliver(scratch, transports).sent == 1
    headers, body = receiver.posts[0]
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER.lower()] == f"sha256={expected}"
    assert json.loads(body)["record"] == {"kind": "case", "id": 1}


def test_a_failure_is_retried_later_and_later_then_given_up(
    scratch: Platform, webhook: tuple[Receiver, str]
) -> None:
    receiver, url = webhook
    receiver.failures = 2
    transports = Transports({MessageChannel.WEBHOOK: WebhookTransport()})
    stored(scratch, message(MessageChannel.WEBHOOK, url))
    first = deliver(scratch, transports, T0)
    assert (first.sent, first.retrying) == (0, 1)
    assert states(scratch) == [("pending", 1, "DeliveryError: HTTP 503 from h")]
    assert deliver(scratch, transports, T0 + timedelta(seconds=10)).retrying == 0  # not yet
    assert deliver(scratch, transports, T0 + retry_wait(1)).retrying == 1
    assert deliver(scratch, transports, T0 + retry_wait(1) + retry_wait(2)).sent == 1
    assert states(scratch) == [("sent", 3, "")]
    assert retry_wait(1) < retry_wait(2) < retry_wait(3) <= timedelta(hours=1)


def test_a_message_that_never_goes_through_fails_and_can_be_sent_again(
    scratch: Platform,
) -> None:
    class Down:
        def send(self, message: OutboxMessage) -> None:
            raise ConnectionRefusedError("gateway down")

    (message_id,) = stored(scratch, message(MessageChannel.SMS, "13800001111"))
    broken = Transports({MessageChannel.SMS: Down()})
    moment = T0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        deliver(scratch, broken, moment)
        moment += retry_wait(attempt)
    assert states(scratch) == [("failed", MAX_ATTEMPTS, "ConnectionRefusedError: gatewa")]
    assert deliver(scratch, Transports(), moment).sent == 0  # failed stays failed
    with UnitOfWork(scratch.session_factory) as uow:
        found = Outbox(uow.session).get(message_id)
        assert found is not None
        found.retry(moment)
        uow.commit()
    assert deliver(scratch, Transports(fallback=LogTransport()), moment).sent == 1


# ------------------------------------------------------------------ who hears what


def notices(client: TestClient, headers: dict[str, str], case_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/cases/{case_id}", headers=headers)
    assert response.status_code == 200, response.text
    notices: list[dict[str, Any]] = response.json()["notices"]
    return notices


def test_a_unit_hears_of_the_case_dispatched_to_it(
    city: City, city_client: TestClient, auth: Any, street_unit: str
) -> None:
    auth.unit(street_unit)  # the unit has a handler account
    dispatcher = auth("dispatcher")
    case = report(city_client, auth("resident"), first_grid(city))
    for action in ("accept", "register"):
        act(city_client, dispatcher, case["id"], action)
    act(city_client, dispatcher, case["id"], "dispatch", department=street_unit)
    told = notices(city_client, dispatcher, case["id"])
    (to_unit,) = [n for n in told if n["to"] == f"user:h.{street_unit}"]
    assert f"新案件 {case['id']}" in to_unit["body"] and to_unit["state"] == "pending"
    # Reporters' answers are the case's messages, not its notices.
    answers = city_client.get(f"/api/v1/cases/{case['id']}", headers=dispatcher).json()
    assert all(m["to"].startswith("reporter:") for m in answers["messages"])
    # A handler does not read what the centre was told.
    own = city_client.get(f"/api/v1/cases/{case['id']}", headers=auth.unit(street_unit))
    assert own.json()["notices"] == []


def test_a_whistle_tells_its_lead_and_the_units_it_summons(
    city: City, city_client: TestClient, auth: Any, street_unit: str
) -> None:
    other = f"{first_grid(city).code[:9]}-PCS"
    for unit in (street_unit, other):
        auth.unit(unit)
    dispatcher = auth("dispatcher")
    case = report(city_client, auth("resident"), first_grid(city))
    for action in ("accept", "register"):
        act(city_client, dispatcher, case["id"], action)
    act(
        city_client,
        dispatcher,
        case["id"],
        "whistle",
        departments=[street_unit, other],
        lead=street_unit,
        reason="需联合执法",
    )
    told = {n["to"]: n["body"] for n in notices(city_client, dispatcher, case["id"])}
    assert "牵头办理" in told[f"user:h.{street_unit}"]
    assert "请贵单位及时报到" in told[f"user:h.{other}"]


def test_the_centre_hears_when_a_unit_returns_a_case(
    city: City, city_client: TestClient, auth: Any, street_unit: str
) -> None:
    dispatcher = auth("dispatcher")
    case = report(city_client, auth("resident"), first_grid(city))
    for action in ("accept", "register"):
        act(city_client, dispatcher, case["id"], action)
    act(city_client, dispatcher, case["id"], "dispatch", department=street_unit)
    act(city_client, auth.unit(street_unit), case["id"], "return", reason="不属于本部门职责")
    told = notices(city_client, dispatcher, case["id"])
    returned = [n for n in told if "被承办单位退回" in n["body"]]
    assert returned and all(n["to"].startswith("user:") for n in returned)
    assert "不属于本部门职责" in returned[0]["body"]


def test_a_unit_with_a_system_of_its_own_is_posted_its_new_work(
    city: City, city_client: TestClient, auth: Any, webhook: tuple[Receiver, str]
) -> None:
    receiver, url = webhook
    admin, dispatcher = auth("admin"), auth("dispatcher")
    grid = first_grid(city)
    code = f"{grid.code[:9]}-HOOK"
    created = city_client.post(
        "/api/v1/departments",
        json={
            "code": code,
            "name": "智慧物业平台",
            "level": "street",
            "area_code": grid.code[:9],
            "kind": "property_management",
            "webhook_url": url,
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.json()["has_webhook"] is True
    case = report(city_client, auth("resident"), grid)
    for action in ("accept", "register"):
        act(city_client, dispatcher, case["id"], action)
    act(city_client, dispatcher, case["id"], "dispatch", department=code)
    (hook,) = [n for n in notices(city_client, dispatcher, case["id"]) if n["channel"] == "webhook"]
    assert (hook["to"], hook["recipient"]) == (f"unit:{code}", url)
    # A run delivers the oldest messages due, a batch at a time: the city of these tests
    # may hold more than one batch by now.
    for _ in range(100):
        delivered = city_client.post("/api/v1/system/outbox/deliver", headers=admin)
        assert delivered.status_code == 200
        posted = [json.loads(body) for _, body in receiver.posts]
        if any(p["record"] == {"kind": "case", "id": case["id"]} for p in posted):
            break
        assert delivered.json()["sent"] >= 1
    else:
        raise AssertionError("the unit's system was never posted its case")
    # Take the unit out of service: the change and its reason are in its history.
    changed = city_client.patch(
        f"/api/v1/departments/{code}",
        json={"active": False, "reason": "平台停用"},
        headers=admin,
    )
    assert changed.status_code == 200 and changed.json()["active"] is False
    history = city_client.get(f"/api/v1/departments/{code}/history", headers=admin).json()
    assert [h["action"] for h in history] == ["create", "change"]
    assert history[1]["data"]["changes"] == {"active": [True, False]}
    assert (history[1]["note"], history[1]["actor"]) == ("平台停用", "admin")


def test_administrators_see_every_message_and_send_a_failed_one_again(
    city: City, city_client: TestClient, auth: Any
) -> None:
    admin = auth("admin")
    listing = city_client.get("/api/v1/system/outbox?state=sent&limit=5", headers=admin)
    assert listing.status_code == 200
    body = listing.json()
    assert set(body["counts"]) == {"pending", "sent", "failed"}
    assert all(m["state"] == "sent" for m in body["messages"])
    wrong = city_client.get("/api/v1/system/outbox?state=lost", headers=admin)
    assert wrong.status_code == 422 and "lost" in wrong.json()["error"]["message"]
    assert city_client.get("/api/v1/system/outbox", headers=auth("dispatcher")).status_code == 403
    missing = city_client.post("/api/v1/system/outbox/999999/retry", headers=admin)
    assert missing.status_code == 404
    page = city_client.get("/admin/outbox", headers=admin)
    assert page.status_code == 200 and "消息发送" in page.text


def test_the_outbox_is_delivered_by_the_platforms_job(scratch: Platform) -> None:
    (job,) = [j for j in scratch.jobs if j.name == "outbox.deliver"]
    assert job.every == timedelta(seconds=scratch.settings.outbox_interval_seconds)
    stored(scratch, message(MessageChannel.WEB, "li", at=utcnow()))
    with UnitOfWork(scratch.session_factory) as uow:
        assert job.run(uow) == "1 sent, 0 to retry, 0 failed"
    with UnitOfWork(scratch.session_factory) as uow:
        count = uow.session.execute(
            select(func.count()).select_from(outbox).where(outbox.c.state == Delivery.SENT)
        ).scalar_one()
        assert count == 1


@pytest.fixture
def street_unit(city: City) -> str:
    return f"{first_grid(city).code[:9]}-ZFD"


def test_a_cli_deliver_names_what_it_sent(scratch: Platform) -> None:
    from typer.testing import CliRunner

    from civicgrid.cli import app

    stored(scratch, message(MessageChannel.WEB, "li", at=utcnow()))
    result = CliRunner().invoke(app, ["outbox", "deliver", "--db", scratch.settings.database_url])
    assert result.exit_code == 0, result.output
    assert "sent: 1" in result.output
    listed = CliRunner().invoke(app, ["outbox", "list", "--db", scratch.settings.database_url])
    assert "sent: 1" in listed.output
