"""Wires the domains together: loads every table mapping, connects the ports, and builds
the database objects from settings. The only module that knows every domain."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

# Importing the repositories registers their tables on core.db.metadata.
from civicgrid.accounts import repository as _accounts_tables  # noqa: F401
from civicgrid.accounts.repository import UserRepository
from civicgrid.accounts.services import StaffDirectory, grid_worker_facts
from civicgrid.areas import repository as _areas_tables  # noqa: F401
from civicgrid.areas.ports import register_fact_source
from civicgrid.areas.repository import DepartmentRepository
from civicgrid.areas.services import LocatorCache
from civicgrid.assess import repository as _assess_tables  # noqa: F401
from civicgrid.assess.ports import AssessPorts
from civicgrid.assess.services import alerts_job, month_end_job, refresh_job
from civicgrid.audit import repository as _audit_tables  # noqa: F401
from civicgrid.audit.ports import AccountRecords, CombinedOwnRecords
from civicgrid.audit.services import AuditPorts, checkpoint_job
from civicgrid.audit.services import ports_for as audit_ports_for
from civicgrid.cases import repository as _cases_tables  # noqa: F401
from civicgrid.cases import views as _case_view_indexes  # noqa: F401
from civicgrid.cases.intake import IntakeWriter
from civicgrid.cases.ports import AreaNameResolver, KeywordSuggester, StandardAddressResolver
from civicgrid.cases.services import CasePorts, RoutingCache, case_facts, tick_job
from civicgrid.cases.views import cases_reported_by
from civicgrid.core import ledger as _ledger_tables  # noqa: F401
from civicgrid.core import ratelimit as _rate_limit_tables  # noqa: F401
from civicgrid.core.db import make_engine, make_session_factory
from civicgrid.core.jobs import PeriodicJob
from civicgrid.core.ledger import Action, Entry, Ledger, RecordKind
from civicgrid.core.outbox import (
    Directory,
    MessageChannel,
    SmtpTransport,
    Transport,
    Transports,
    WebhookTransport,
)
from civicgrid.core.permissions import Role
from civicgrid.core.ratelimit import RateLimiter
from civicgrid.core.settings import Settings, get_settings
from civicgrid.exchange import repository as _exchange_tables  # noqa: F401
from civicgrid.exchange.domain import WorkingCalendar, parse_days
from civicgrid.exchange.ports import AuditEntry, ExchangePorts
from civicgrid.exchange.services import quality_job
from civicgrid.exchange.services import tick_job as exchange_tick_job
from civicgrid.insight.retraining import Retrainer, retrain, retrain_job
from civicgrid.insight.suggester import TrainedSuggester
from civicgrid.insight.urgency import LexiconUrgency
from civicgrid.insight.warnings import repository as _warnings_tables  # noqa: F401
from civicgrid.insight.warnings.ports import WarningPorts
from civicgrid.insight.warnings.services import scan_job
from civicgrid.open311 import repository as _open311_tables  # noqa: F401
from civicgrid.registry import entities as _registry_entity_tables  # noqa: F401
from civicgrid.registry import repository as _registry_tables  # noqa: F401
from civicgrid.registry.import_jobs import RegistryImports, import_job
from civicgrid.registry.services import OwnPersonRecords
from civicgrid.system.services import OutboxPorts, delivery_job
from civicgrid.transparency.services import TransparencyPorts

register_fact_source(grid_worker_facts)
register_fact_source(case_facts)


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    locator_cache: LocatorCache
    cases: CasePorts
    intake: IntakeWriter
    # What the server's scheduler thread runs (core.jobs), the cases' tick first.
    jobs: list[PeriodicJob]
    transparency: TransparencyPorts = field(default_factory=TransparencyPorts)
    # Retrains the category suggestions now (the insight page); None without a model path.
    retrainer: Retrainer | None = None
    warnings: WarningPorts = field(default_factory=WarningPorts)
    outbox: OutboxPorts = field(default_factory=OutboxPorts)
    # The audit log: its keys, its witnesses, a resident's own records.
    audit: AuditPorts = field(default_factory=AuditPorts)
    assess: AssessPorts = field(default_factory=AssessPorts)
    exchange: ExchangePorts = field(default_factory=ExchangePorts)
    # The registry's uploaded files and the runner that imports them now (core.jobs).
    registry_imports: RegistryImports | None = None


def build_platform(settings: Settings | None = None, database_url: str | None = None) -> Platform:
    settings = settings or get_settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    # A connection for every request thread, the scheduler and the odd page of the CLI.
    engine = make_engine(settings.database_url, pool_size=settings.threads + 2)
    locator_cache = LocatorCache()
    cases = CasePorts(
        settings=settings,
        locator_cache=locator_cache,
        routing=RoutingCache(),
        suggester=(
            TrainedSuggester(Path(settings.suggestion_model_path), KeywordSuggester())
            if settings.suggestion_model_path
            else KeywordSuggester()
        ),
        address_resolver=StandardAddressResolver(AreaNameResolver()),
        urgency=LexiconUrgency(),
        directory=StaffDirectory(),
    )
    session_factory = make_session_factory(engine)
    intake = IntakeWriter(session_factory, cases, gather_seconds=settings.intake_gather_ms / 1000)
    outbox = OutboxPorts(transports_for(settings), cases.clock)
    jobs = [
        tick_job(cases),
        delivery_job(outbox, timedelta(seconds=settings.outbox_interval_seconds)),
    ]
    retrainer = None
    if settings.suggestion_model_path:
        path = Path(settings.suggestion_model_path)
        suggester = cases.suggester if isinstance(cases.suggester, TrainedSuggester) else None
        retrainer = Retrainer(session_factory, retrain(path, suggester), cases.clock)
        if settings.retrain_every_hours > 0:
            every = timedelta(hours=settings.retrain_every_hours)
            jobs.append(retrain_job(path, every, suggester, clock=cases.clock))
    warnings = WarningPorts(
        directory=cases.directory,
        locale=settings.default_locale,
        clock=cases.clock,
        timezone=settings.timezone,
    )
    if settings.warning_scan_minutes > 0:
        jobs.append(scan_job(warnings, timedelta(minutes=settings.warning_scan_minutes)))
    audit = audit_ports_for(
        settings,
        own_records=CombinedOwnRecords(
            OwnPersonRecords(settings.secret_key, resident_phone),
            AccountRecords(RecordKind.CASE.value, cases_reported_by),
        ),
        unit_names=unit_names,
        clock=cases.clock,
    )
    if settings.audit_checkpoint_seconds > 0:
        jobs.append(checkpoint_job(audit, timedelta(seconds=settings.audit_checkpoint_seconds)))
    exchange = exchange_ports(settings, session_factory, cases.directory, cases.clock)
    jobs.append(exchange_tick_job(exchange, timedelta(minutes=1)))
    if settings.exchange_quality_minutes > 0:
        jobs.append(quality_job(exchange, timedelta(minutes=settings.exchange_quality_minutes)))
    assess = AssessPorts(
        directory=cases.directory,
        clock=cases.clock,
        timezone=settings.timezone,
        locale=settings.default_locale,
        database_url=settings.database_url,
        engine=settings.assess_engine,
        snapshot_dir=Path(settings.instance_dir) / "assess",
        spark_parquet=settings.assess_spark_parquet,
        appeal_days=settings.assess_appeal_days,
        pdf_font=settings.pdf_font,
    )
    if settings.assess_refresh_seconds > 0:
        jobs.append(refresh_job(assess, timedelta(seconds=settings.assess_refresh_seconds)))
        jobs.append(month_end_job(assess))
    if settings.assess_alert_minutes > 0:
        jobs.append(alerts_job(assess, timedelta(minutes=settings.assess_alert_minutes)))
    registry_imports = RegistryImports(
        session_factory,
        Path(settings.instance_dir) / "registry-imports",
        settings.secret_key,
        locator_cache,
        cases.clock,
    )
    # Uploads left queued (their server stopped before reading them) are read within a minute.
    jobs.append(import_job(settings.secret_key, locator_cache, timedelta(minutes=1)))
    return Platform(
        settings,
        engine,
        session_factory,
        locator_cache,
        cases,
        intake,
        jobs,
        warnings=warnings,
        retrainer=retrainer,
        transparency=TransparencyPorts(timezone=settings.timezone),
        outbox=outbox,
        audit=audit,
        assess=assess,
        exchange=exchange,
        registry_imports=registry_imports,
    )


def exchange_ports(
    settings: Settings,
    session_factory: sessionmaker[Session],
    directory: Directory,
    clock: Callable[[], datetime],
) -> ExchangePorts:
    """The exchange's calendar, keys, question limit and notices, from the settings."""
    calendar = WorkingCalendar(
        settings.timezone,
        parse_days(settings.exchange_holidays, "CIVICGRID_EXCHANGE_HOLIDAYS"),
        parse_days(settings.exchange_workdays, "CIVICGRID_EXCHANGE_WORKDAYS"),
    )
    limiter = RateLimiter(
        session_factory,
        "exchange.verify",
        settings.exchange_verify_per_minute,
        60,
        secret=settings.secret_key,
        clock=clock,
    )
    return ExchangePorts(
        directory=directory,
        calendar=calendar,
        secret_key=settings.secret_key,
        clock=clock,
        timezone=settings.timezone,
        locale=settings.default_locale,
        verify_limiter=limiter,
        audit=LedgerTrail(),
    )


class LedgerTrail:
    """The exchange's uses of shared data, appended to the platform's audit log
    (core.ledger) in the transaction of the use: who, which dataset and fields, under
    which grant, which records, and a reason code; a question's identity number only as
    the log's salted commitment."""

    def append(self, session: Session, entry: AuditEntry) -> None:
        Ledger(session).append(
            Entry(
                action=Action(entry.action.value),
                actor=entry.actor,
                role=entry.role,
                unit=entry.unit,
                dataset=entry.dataset,
                record_kind=entry.record_kind if entry.record_ids else None,
                record_ids=entry.record_ids,
                row_count=entry.row_count,
                fields=entry.fields,
                grant=entry.grant_id,
                reason=entry.reason,
                personal=entry.personal,
                at=entry.at,
            )
        )


def transports_for(settings: Settings) -> Transports:
    """The outbox's transport per channel, from the settings; the log for the rest."""
    by_channel: dict[MessageChannel, Transport] = {
        MessageChannel.WEBHOOK: WebhookTransport(secret=settings.webhook_secret)
    }
    if settings.smtp_host:
        by_channel[MessageChannel.EMAIL] = SmtpTransport(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_sender,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )
    if settings.sms_webhook_url:
        by_channel[MessageChannel.SMS] = WebhookTransport(
            url=settings.sms_webhook_url, secret=settings.webhook_secret
        )
    return Transports(by_channel)


def resident_phone(session: Session, username: str) -> str | None:
    """A resident account's phone, for the audit log's "who read my data" (the registry
    matches it with the person record's)."""
    user = UserRepository(session).get(username)
    return user.phone if user is not None and user.role is Role.RESIDENT else None


def unit_names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    """The handling units' names, for the audit log's pages."""
    units = DepartmentRepository(session)
    return {code: unit.name for code in codes if (unit := units.get(code)) is not None}
