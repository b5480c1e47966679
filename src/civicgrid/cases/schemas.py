"""API shapes for cases, the taxonomy and the authority list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from civicgrid.areas.domain import Function, Level
from civicgrid.cases.attachments import Upload
from civicgrid.cases.domain import (
    STEPS,
    Action,
    AuthorityRule,
    Case,
    Category,
    Channel,
    Light,
    Priority,
    Status,
)
from civicgrid.cases.services import (
    ActionRequest,
    CaseView,
    ListVersion,
    NearbyCase,
    NewCase,
    NewSupporter,
    PublicCase,
    RuleEdit,
    SuggestedCategory,
)
from civicgrid.cases.taxonomy import TaxonomyChanges
from civicgrid.core import masking
from civicgrid.core.masking import Whose
from civicgrid.core.outbox import Delivery, MessageChannel, OutboxMessage
from civicgrid.core.permissions import Role
from civicgrid.core.security import mask_email, mask_name, mask_phone
from civicgrid.core.types import RecordId
from civicgrid.core.workflow import Event


class AttachmentIn(BaseModel):
    filename: str = Field(min_length=1, max_length=200)
    data: str = Field(description="the image, base64-encoded (a data: URL prefix is allowed)")

    def upload(self) -> Upload:
        return Upload.from_base64(self.filename, self.data)


class ReporterIn(BaseModel):
    name: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=40)
    email: str = Field(default="", max_length=200)
    hidden: bool = Field(
        default=False,
        description="not named to the public (公开时匿名); the dispatch centre still sees who",
    )


class CaseIn(BaseModel):
    description: str = Field(min_length=1, description="what is wrong (at most 4,000 characters)")
    title: str = Field(default="", max_length=200)
    category: str | None = Field(
        None, description="category code; suggested from the text when left out"
    )
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address: str = Field(default="", max_length=300)
    channel: Channel
    reporter: ReporterIn | None = None
    priority: Priority | None = Field(
        default=None, description="staff only; else from the category"
    )
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=9)

    def to_new_case(self) -> NewCase:
        reporter = self.reporter or ReporterIn()
        return NewCase(
            description=self.description,
            channel=self.channel,
            title=self.title,
            category=self.category,
            lat=self.lat,
            lon=self.lon,
            address=self.address,
            reporter_name=reporter.name,
            reporter_phone=reporter.phone,
            reporter_email=reporter.email,
            reporter_hidden=reporter.hidden,
            priority=self.priority,
            attachments=[a.upload() for a in self.attachments],
        )


class ActionIn(BaseModel):
    action: str = Field(description=", ".join(a.value for a in Action))
    note: str = Field(default="", max_length=4000)
    reason: str = Field(default="", max_length=2000)
    department: str | None = None
    departments: list[str] = Field(default_factory=list, description="whistle: summoned units")
    lead: str | None = Field(default=None, description="whistle: the lead unit")
    meeting_at: AwareDatetime | None = Field(
        default=None,
        description="whistle: when the summoned units meet (optional; ISO 8601 with its offset)",
    )
    satisfaction: int | None = Field(default=None, description="rate: 1 (bad) to 5 (good)")
    into: RecordId | None = Field(default=None, description="merge: the case that survives")
    hours: float | None = Field(
        default=None, allow_inf_nan=False, description="request_extension: hours asked for"
    )
    passed: bool | None = Field(
        default=None, description="verify: false sends the case back (rework)"
    )
    category: str | None = Field(default=None, description="amend: new category")
    priority: Priority | None = Field(default=None, description="amend: new priority")
    lat: float | None = Field(default=None, ge=-90, le=90, description="amend: new location")
    lon: float | None = Field(default=None, ge=-180, le=180)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=9)

    def to_request(self) -> ActionRequest:
        return ActionRequest(
            action=self.action,
            note=self.note,
            reason=self.reason,
            department=self.department,
            departments=self.departments,
            lead=self.lead,
            meeting_at=self.meeting_at,
            satisfaction=self.satisfaction,
            into=self.into,
            hours=self.hours,
            passed=self.passed,
            category=self.category,
            priority=self.priority,
            lat=self.lat,
            lon=self.lon,
            attachments=[a.upload() for a in self.attachments],
        )


class HandlerOut(BaseModel):
    department: str
    lead: bool
    assigned_at: datetime
    checked_in_at: datetime | None


class CaseOut(BaseModel):
    id: int
    title: str
    description: str
    category: str
    channel: Channel
    status: Status
    priority: Priority
    lat: float | None
    lon: float | None
    address: str
    grid_code: str
    handling_level: Level
    handling_area_code: str
    department: str | None
    suggested_department: str | None
    handlers: list[HandlerOut]
    created_at: datetime
    updated_at: datetime | None
    deadline: datetime | None = Field(description="deadline of the current step")
    warn_at: datetime | None = Field(description="75% of the step's time (黄灯)")
    light: Light
    overdue: bool
    rework_count: int
    escalation_count: int
    pending_extension_hours: float | None
    resolved_at: datetime | None
    closed_at: datetime | None
    resolution: str
    satisfaction: int | None
    rating_comment: str
    merged_into: int | None
    resolved_on_spot: bool
    reporter_hidden: bool = Field(
        description="the reporter asked not to be named to the public (公开时匿名)"
    )
    supporters: int = Field(description="residents who added their voice (附议)")

    @classmethod
    def of(cls, case: Case, now: datetime) -> CaseOut:
        return cls(
            id=case.id or 0,
            title=case.title,
            description=case.description,
            category=case.category_code,
            channel=case.channel,
            status=case.status,
            priority=case.priority,
            lat=case.lat,
            lon=case.lon,
            address=case.address,
            grid_code=case.grid_code,
            handling_level=case.handling_level,
            handling_area_code=case.handling_area_code,
            department=case.department_code,
            suggested_department=case.suggested_department_code,
            handlers=[
                HandlerOut(
                    department=h.department_code,
                    lead=h.lead,
                    assigned_at=h.assigned_at,
                    checked_in_at=h.checked_in_at,
                )
                for h in case.handlers
            ],
            created_at=case.created_at,
            updated_at=case.updated_at,
            deadline=case.deadline_at,
            warn_at=case.warn_at,
            light=case.light(now),
            overdue=case.overdue or case.light(now) is Light.RED,
            rework_count=case.rework_count,
            escalation_count=case.escalation_count,
            pending_extension_hours=case.pending_extension_hours,
            resolved_at=case.resolved_at,
            closed_at=case.closed_at,
            resolution=case.resolution,
            satisfaction=case.satisfaction,
            rating_comment=case.rating_comment,
            merged_into=case.merged_into_id,
            resolved_on_spot=case.resolved_on_spot,
            reporter_hidden=case.reporter_hidden,
            supporters=case.supporters,
        )


class ReportedOut(CaseOut):
    possible_duplicates: list[int] = Field(description="open cases of the same problem nearby")
    suggested_categories: list[dict[str, Any]]


class EventOut(BaseModel):
    action: str
    actor: str
    actor_role: str
    from_status: Status | None
    to_status: Status
    at: datetime
    note: str
    data: dict[str, Any]
    attachments: list[str]

    @classmethod
    def of(cls, event: Event, show_contacts: bool = False) -> EventOut:
        """The row; a resident who acted is named by her account, which may be her mobile
        number: masked unless the caller reads reporters' contacts."""
        actor = event.actor_name
        if event.actor_role == Role.RESIDENT.value and not show_contacts:
            actor = masking.identifiers_in(actor, None, Whose.REPORTER)
        return cls(
            action=event.action,
            actor=actor,
            actor_role=event.actor_role,
            from_status=Status(event.from_state) if event.from_state else None,
            to_status=Status(event.to_state or Status.REPORTED),
            at=event.at,
            note=event.note,
            data=event.data,
            attachments=event.attachments,
        )


class MessageOut(BaseModel):
    channel: str
    recipient: str = Field(description="where it goes: a phone, an e-mail, an account, a URL")
    to: str = Field(description="whom it is for: reporter:<id>, user:<name> or unit:<code>")
    body: str
    created_at: datetime
    state: Delivery = Field(description="pending, sent, or failed after its retries")
    attempts: int
    sent_at: datetime | None

    @classmethod
    def of(cls, message: OutboxMessage, show_contacts: bool) -> MessageOut:
        recipient = message.address
        if not show_contacts and message.channel is not MessageChannel.WEBHOOK:
            recipient = masking.identifiers_in(recipient, None, Whose.REPORTER)
        return cls(
            channel=message.channel.value,
            recipient=recipient,
            to=message.recipient,
            body=message.body,
            created_at=message.created_at,
            state=message.state,
            attempts=message.attempts,
            sent_at=message.sent_at,
        )


class ReporterOut(BaseModel):
    channel: Channel
    name: str = Field(description="empty for a reporter hidden from all but the centre")
    phone: str
    email: str
    hidden: bool = Field(description="asked not to be named to the public")


class CaseDetailOut(CaseOut):
    timeline: list[EventOut]
    messages: list[MessageOut] = Field(description="the answers to the reporters")
    notices: list[MessageOut] = Field(
        description="what units and the dispatch centre were told (dispatchers, cadres)"
    )
    reporters: list[ReporterOut]
    allowed_actions: list[Action] = Field(description="what the caller may do now")

    @classmethod
    def of_view(cls, view: CaseView, now: datetime) -> CaseDetailOut:
        shown = view.show_contacts
        return cls(
            **CaseOut.of(view.case, now).model_dump(),
            timeline=[EventOut.of(e, shown) for e in view.timeline],
            messages=[MessageOut.of(m, shown) for m in view.messages],
            notices=[MessageOut.of(m, shown) for m in view.notices],
            reporters=[
                ReporterOut(
                    channel=r.channel,
                    name=r.name if shown else "" if r.hidden else mask_name(r.name),
                    phone=r.phone if shown else mask_phone(r.phone),
                    email=r.email if shown else mask_email(r.email),
                    hidden=r.hidden,
                )
                for r in view.reporters
            ],
            allowed_actions=view.allowed_actions,
        )


class SupporterIn(BaseModel):
    lat: float | None = Field(
        default=None, ge=-90, le=90, description="where she sees it: within the nearby radius"
    )
    lon: float | None = Field(default=None, ge=-180, le=180)
    name: str = Field(default="", max_length=100)
    phone: str = Field(
        default="", max_length=40, description="required without an account: for the answers"
    )
    note: str = Field(default="", max_length=4000, description="what the supporter sees")
    hidden: bool = Field(default=False, description="not named to the public (公开时匿名)")

    def to_new_supporter(self) -> NewSupporter:
        return NewSupporter(
            lat=self.lat,
            lon=self.lon,
            name=self.name,
            phone=self.phone,
            note=self.note,
            hidden=self.hidden,
        )


class SupportedCaseOut(BaseModel):
    """A case the caller added her voice to, as the public sees it, with her own words and
    the answers she got."""

    id: int
    category: str
    status: Status
    title: str = Field(description="empty when its reporter asked to stay anonymous")
    created_at: datetime
    closed_at: datetime | None
    supporters: int
    my_words: list[str]
    answers: list[MessageOut]

    @classmethod
    def of_view(cls, view: CaseView) -> SupportedCaseOut:
        public = view.public or PublicCase.of(view.case)
        return cls(
            id=public.id,
            category=public.category_code,
            status=public.status,
            title=public.title,
            created_at=public.created_at,
            closed_at=public.closed_at,
            supporters=public.supporters,
            my_words=list(view.notes),
            answers=[MessageOut.of(m, False) for m in view.messages],
        )


class SupportedOut(BaseModel):
    case: int
    supporters: int = Field(description="residents who added their voice, her included")
    status: Status


class NearbyOut(BaseModel):
    """An open case near a point, with nothing about its reporters."""

    id: int
    category: str
    title: str = Field(description="empty when the reporter stays anonymous to the public")
    status: Status
    created_at: datetime
    distance_m: float
    supporters: int

    @classmethod
    def of(cls, near: NearbyCase) -> NearbyOut:
        return cls(
            id=near.id,
            category=near.category_code,
            title=near.title,
            status=near.status,
            created_at=near.created_at,
            distance_m=round(near.distance_m, 1),
            supporters=near.supporters,
        )


class SuggestionOut(BaseModel):
    code: str
    name: str
    name_en: str
    parent_code: str | None
    confidence: float
    sure: bool = Field(
        description="true when the suggester is sure enough for a form to choose it; "
        "otherwise it is only offered and the person picks"
    )

    @classmethod
    def of(cls, suggested: SuggestedCategory) -> SuggestionOut:
        category = suggested.category
        return cls(
            code=category.code,
            name=category.name,
            name_en=category.name_en,
            parent_code=category.parent_code,
            confidence=round(suggested.confidence, 3),
            sure=suggested.sure,
        )


class CasePageOut(BaseModel):
    items: list[CaseOut]
    total: int = Field(description="matching cases, counted up to 1,000 (see total_exact)")
    total_exact: bool = Field(description="false when more than `total` cases match")
    page: int
    page_size: int


class CategoryOut(BaseModel):
    code: str
    name: str
    name_en: str = ""
    parent_code: str | None = None
    keywords: str = ""
    urgent: bool = False
    description: str = ""

    @classmethod
    def of(cls, category: Category) -> CategoryOut:
        return cls(
            code=category.code,
            name=category.name,
            name_en=category.name_en,
            parent_code=category.parent_code,
            keywords=category.keywords,
            urgent=category.urgent,
            description=category.description,
        )

    def to_category(self) -> Category:
        return Category(**self.model_dump())


class TaxonomyReplacedOut(BaseModel):
    """What replacing the taxonomy did, and the active categories now."""

    added: int
    changed: int = Field(description="names, group, words or urgency changed, or active again")
    deactivated: int
    unchanged: int
    deactivated_codes: list[str]
    categories: list[CategoryOut]

    @classmethod
    def of(cls, changes: TaxonomyChanges, categories: list[Category]) -> TaxonomyReplacedOut:
        return cls(
            added=len(changes.added),
            changed=len(changes.changed),
            deactivated=len(changes.deactivated),
            unchanged=changes.unchanged,
            deactivated_codes=changes.deactivated,
            categories=[CategoryOut.of(c) for c in categories],
        )


class RuleOut(BaseModel):
    category: str
    level: Level
    function: Function | None = None
    department: str | None = None
    area: str | None = None
    limits: dict[str, float] = Field(
        default_factory=dict, description="hours per step: " + ", ".join(STEPS)
    )
    auto_escalate: bool = True
    id: int | None = Field(None, description="the line's number (changes when it is changed)")
    version: int | None = Field(None, description="the list's version that added this line")

    @classmethod
    def of(cls, rule: AuthorityRule) -> RuleOut:
        return cls(
            category=rule.category_code,
            level=rule.level,
            function=rule.department_function,
            department=rule.department_code,
            area=rule.area_code,
            limits=rule.time_limits.as_dict(),
            auto_escalate=rule.auto_escalate,
            id=rule.id,
            version=rule.version_from or None,
        )

    def to_rule(self) -> AuthorityRule:
        return self.to_edit().to_rule()

    def to_edit(self) -> RuleEdit:
        return RuleEdit(
            category=self.category,
            level=self.level.value,
            function=self.function.value if self.function else None,
            department=self.department,
            area=self.area,
            limits=dict(self.limits),
            auto_escalate=self.auto_escalate,
        )


class RuleIn(BaseModel):
    """One line of the authority list and why it is added or changed."""

    category: str = Field(min_length=1, max_length=32)
    level: str = Field(description="community, street, district or city")
    function: str | None = Field(None, description="the function of the unit to route to")
    department: str | None = Field(None, description="or one unit by its code")
    area: str | None = Field(None, description="only cases within this area")
    limits: dict[str, float] = Field(
        default_factory=dict, description="hours per step: " + ", ".join(STEPS)
    )
    auto_escalate: bool = True
    reason: str = Field("", max_length=1000, description="why (required)")

    def to_edit(self) -> RuleEdit:
        return RuleEdit(
            category=self.category,
            level=self.level,
            function=self.function,
            department=self.department,
            area=self.area,
            limits=dict(self.limits),
            auto_escalate=self.auto_escalate,
        )


class ListReplacedOut(BaseModel):
    """What replacing the authority list did, and the list in force now."""

    version: int | None = Field(description="the new version; null when nothing changed")
    added: int
    removed: int
    kept: int = Field(description="lines written as before, which keep their numbers")
    rules: list[RuleOut]


class ListVersionOut(BaseModel):
    """A version of the authority list: who made it, when, how and why, what changed."""

    version: int
    change: str
    created_by: str
    created_at: datetime
    reason: str
    details: dict[str, Any]

    @classmethod
    def of(cls, listed: ListVersion) -> ListVersionOut:
        version = listed.version
        return cls(
            version=version.id or 0,
            change=version.change.value,
            created_by=version.created_by,
            created_at=version.created_at,
            reason=version.reason,
            details=listed.event.data if listed.event is not None else {},
        )
