"""The message catalogues: each domain's, complete in both languages, every key the code
uses defined and every key defined used."""

from __future__ import annotations

import ast
import fnmatch
import os
import string
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from civicgrid.core.i18n import (
    LOCALES,
    catalogue_files,
    city_day,
    day_start,
    format_date,
    format_datetime,
    format_duration,
    has_message,
    pick_locale,
    read_catalogue,
    translate,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "civicgrid"

# Keys that the code builds from a value where it shows them, so that extraction cannot see
# them: each family, and what builds it.
DYNAMIC_FAMILIES = {
    "status.*": "a case's status (case and transparency pages, Open311 status notes)",
    "track.*": "what a case's status means to a resident (cases/_macros.html, _nearby.html)",
    "action.*": "a case's actions and timeline rows (CasePage.action)",
    "plain.*": "a case's timeline in plain words (CasePage._plain)",
    "channel.*": "where a case came from (CasePage.channel)",
    "priority.*": "a case's priority (CasePage.priority)",
    "light.*": "a case's deadline light (CasePage.light)",
    "ui.where.*": "where a case stands after an action (case_pages.Labels.where)",
    "sentiment.*": "the tone of a report (CasePage, the urgency panel)",
    "*_wrong_state": "the workflow kernel's 409 for a record kind (core.workflow)",
    "*_state.*": "a record's state named in a wrong action's 409 (core.workflow.WrongState)",
    "ui.audit.field.*": "a field read, named on the audit pages (web.audit_pages.EntryView)",
    "*_field_required": "the workflow kernel's missing field for a record kind (core.workflow)",
    "*_field_required.*": "a missing field asked for in its own words (core.workflow)",
    "*_act.*": "an action named in the kernel's messages (FieldRequired, WrongState)",
    "*_field.*": "a field named in a missing field's message (core.workflow.FieldRequired)",
    "ui.field.*": "a form field named beside its error (portal.error_list)",
    "ui.form.satisfaction_*": "the five satisfaction scores (cases/_macros.html)",
    "ui.count.*": "an area's counts (partials/area_detail.html)",
    "tp.def.*": "the transparency figures' definitions (transparency.schemas)",
    "tp.fig.*": "the transparency figures in the CSV (transparency.schemas)",
    "tp.col.*": "the open data columns (transparency.html)",
    "tp.step.*": "the authority list's steps (transparency.html)",
    "ui.registry.field.*": "a registry field's name (registry pages)",
    "ui.registry.value.*": "a registry field's coded value (registry pages)",
    "ui.registry.kind.*": "a registry record kind (registry pages)",
    "ui.registry.entity.reason_*": "why an entity believes a value (registry/entity.html)",
    "ui.registry.entity.*_word": "a reviewer's decision (registry/entity.html)",
    "ui.registry.imports.state_*": "an import batch's state (registry/imports.html, batch.html)",
    "ui.registry.imports.step_*": "a row of an import batch's history (registry/batch.html)",
    "ui.warnings.kind.*": "a warning's kind (warnings page and command)",
    "ui.warnings.state.*": "a warning's state (warnings page and command)",
    "ui.warnings.step.*": "who acknowledged or closed a warning (warnings/list.html)",
    "ui.admin.rules.done.*": "what an administrator's change of the authority list did",
    "ui.admin.rules.change.*": "how a version of the authority list came about",
    "ui.admin.outbox.state.*": "a message's delivery state (admin/outbox.html)",
    "ui.admin.outbox.done.*": "what an administrator's retry or delivery did",
    "ui.admin.accounts.done.*": "what an administrator did to an account (accounts/users.html)",
    "ui.admin.keys.done.*": "what an administrator did to an API key (accounts/api_keys.html)",
    "reply.aspect.*": "the aspects of an answer's score (insight page and command)",
    "reply.reason.*": "why an answer scored as it did (insight.replies)",
    "warning.weekday.*": "the weekday in a warning's explanation (insight.warnings.domain)",
    "exchange.notice.*": "a share request's or grant's notice to the units (exchange.services)",
    "ui.exchange.class.*": "a dataset's share class (exchange pages and command)",
    "ui.exchange.grade.*": "a field's grade (exchange pages and command)",
    "ui.exchange.personal.*": "a field's personal-information mark (exchange pages and command)",
    "ui.exchange.source.*": "where a dataset's rows come from (exchange pages)",
    "ui.exchange.frequency.*": "how often a dataset is updated (exchange pages)",
    "ui.exchange.type.*": "what a field holds (exchange/dataset.html)",
    "ui.exchange.mask.*": "how a field is shown (web.exchange_pages.mask_label)",
    "ui.exchange.state.*": "a share request's state (exchange pages and command)",
    "ui.exchange.grant_state.*": "a grant's state (exchange pages and command)",
    "ui.exchange.action.*": "a step of a request or grant (exchange/request.html)",
    "ui.exchange.answer.*": "a yes/no question's answer (exchange/verify.html)",
    "ui.exchange.question.*": "a yes/no question (exchange/verify.html)",
    "ui.exchange.tab.*": "the request lists (exchange/requests.html)",
    "ui.exchange.side.*": "the grant lists (exchange/grants.html)",
    "ui.exchange.done.*": "what an exchange page's action did (web.exchange_pages._done)",
    "assess.field.*": "a fact column's name in an indicator's definition (assess pages)",
    "assess.object.*": "what a ranking ranks (assess pages, View.object)",
    "ui.assess.trend.*": "how a rank moved since last month (assess/rankings.html)",
    "ui.assess.appeal.*": "an appeal's state (assess/appeals.html)",
    "ui.assess.on_zero.*": "how an empty denominator scores (assess/indicator.html)",
    "ui.assess.rule.*": "a scheme's scoring rule in words (assess/scheme.html)",
    "ui.assess.rule_name.*": "a scoring rule's name (assess/scheme.html)",
    "ui.assess.def.better_*": "whether more is better (assess/indicator.html)",
    "ui.command.tile.*": "the command centre's tiles (assess/command.html)",
}
EXPECTED_DOMAINS = {
    "core",
    "areas",
    "accounts",
    "cases",
    "open311",
    "transparency",
    "insight",
    "registry",
    "demo",
    "web",
    "assess",
}


@cache
def catalogues() -> dict[tuple[str, str], Catalog]:
    """(domain, locale) → the .po as written, the catalogues' source."""
    found = {}
    for domain, locale, folder in catalogue_files():
        with (folder / f"{domain}.po").open("rb") as handle:
            found[domain, locale] = read_po(handle, locale=locale, domain=domain)
    return found


def texts(domain: str, locale: str) -> dict[str, str]:
    return {m.id: m.string for m in catalogues()[domain, locale] if m.id}  # type: ignore[misc]


@cache
def defined() -> dict[str, str]:
    """Every key → the domain that defines it."""
    return {key: domain for (domain, locale) in catalogues() for key in texts(domain, locale)}


@cache
def extracted() -> frozenset[str]:
    """Every key that `pybabel extract` finds in the code and the templates."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle, "babel.cfg")
    return frozenset(
        message
        for _, _, message, _, _ in extract_from_dir(PACKAGE, method_map, options_map)
        if isinstance(message, str)
    )


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_domain_keeps_its_messages_in_both_languages() -> None:
    domains = {domain for domain, _ in catalogues()}
    assert domains >= EXPECTED_DOMAINS  # and any domain added since
    assert set(catalogues()) == {(d, locale) for d in domains for locale in LOCALES}


def test_every_catalogue_says_its_language_and_encoding() -> None:
    for (domain, locale), catalog in catalogues().items():
        headers = dict(catalog.mime_headers)
        assert headers["Language"] == locale, domain
        assert headers["Content-Type"] == "text/plain; charset=utf-8", domain
        assert headers["Plural-Forms"].startswith("nplurals="), domain


def test_every_message_has_a_text_in_both_languages() -> None:
    problems = []
    for domain in {d for d, _ in catalogues()}:
        zh, en = texts(domain, "zh"), texts(domain, "en")
        problems += [f"{domain}: {key} only in zh" for key in zh.keys() - en.keys()]
        problems += [f"{domain}: {key} only in en" for key in en.keys() - zh.keys()]
        for locale, found in (("zh", zh), ("en", en)):
            problems += [f"{domain}/{locale}: {key} is empty" for key, t in found.items() if not t]
            fuzzy = [m.id for m in catalogues()[domain, locale] if m.id and m.fuzzy]
            problems += [f"{domain}/{locale}: {key} is fuzzy" for key in fuzzy]
    assert not problems


def test_no_message_is_defined_by_two_domains() -> None:
    owners: dict[str, set[str]] = {}
    for domain, locale in catalogues():
        for key in texts(domain, locale):
            owners.setdefault(key, set()).add(domain)
    assert {key: d for key, d in owners.items() if len(d) > 1} == {}


def test_both_languages_fill_in_the_same_placeholders() -> None:
    differ = {}
    for domain in {d for d, _ in catalogues()}:
        zh, en = texts(domain, "zh"), texts(domain, "en")
        for key in zh.keys() & en.keys():
            if placeholders(zh[key]) != placeholders(en[key]):
                differ[key] = (zh[key], en[key])
    assert differ == {}


def test_messages_with_placeholders_are_flagged_for_translators_tools() -> None:
    # read_po drops the flag (Babel judges it by the msgid, here a key), so read the lines.
    unflagged = []
    for domain, locale, folder in catalogue_files():
        path = Path(str(folder / f"{domain}.po"))
        flags = ""
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#,"):
                flags = line
            elif line.startswith("msgid ") and line != 'msgid ""':
                key = ast.literal_eval(line.removeprefix("msgid "))
                text = texts(domain, locale)[key]
                if placeholders(text) and "python-brace-format" not in flags:
                    unflagged.append(f"{domain}/{locale}: {key}")
                flags = ""
    assert unflagged == []


def test_every_key_the_code_uses_is_defined() -> None:
    assert sorted(extracted() - defined().keys()) == []


def test_every_message_is_used() -> None:
    unused = [
        key
        for key in defined()
        if key not in extracted()
        and not any(fnmatch.fnmatchcase(key, family) for family in DYNAMIC_FAMILIES)
    ]
    assert unused == [], "neither extracted nor of a declared family (tests/unit/test_i18n.py)"


def test_every_dynamic_family_has_messages() -> None:
    empty = [f for f in DYNAMIC_FAMILIES if not any(fnmatch.fnmatchcase(k, f) for k in defined())]
    assert empty == []


def test_a_catalogue_is_read_from_its_po_until_it_is_compiled(tmp_path: Path) -> None:
    def catalogue(text: str) -> Catalog:
        catalog = Catalog(locale="en", domain="town")
        catalog.add("town.greeting", text)
        return catalog

    with (tmp_path / "town.po").open("wb") as handle:
        write_po(handle, catalogue("from the po"))
    assert read_catalogue("town", tmp_path) == {"town.greeting": "from the po"}

    with (tmp_path / "town.mo").open("wb") as handle:
        write_mo(handle, catalogue("compiled"))
    assert read_catalogue("town", tmp_path) == {"town.greeting": "compiled"}


def test_a_po_edited_after_compiling_wins_over_the_stale_mo(tmp_path: Path) -> None:
    catalog = Catalog(locale="en", domain="town")
    catalog.add("town.greeting", "old")
    with (tmp_path / "town.mo").open("wb") as handle:
        write_mo(handle, catalog)
    catalog["town.greeting"].string = "edited"
    with (tmp_path / "town.po").open("wb") as handle:
        write_po(handle, catalog)
    stale = (tmp_path / "town.po").stat().st_mtime - 60
    os.utime(tmp_path / "town.mo", (stale, stale))
    assert read_catalogue("town", tmp_path) == {"town.greeting": "edited"}


def test_messages_are_looked_up_by_key_and_filled_in() -> None:
    assert translate("area_not_found", "en", {"code": "110105"}) == "Unknown area code 110105"
    assert translate("area_not_found", "zh", {"code": "110105"}) == "区域编码 110105 不存在"
    assert has_message("area_not_found")


def test_unknown_message_keys_fall_back_to_the_key() -> None:
    assert translate("no_such_key", "en") == "no_such_key"
    assert not has_message("no_such_key")


def test_locale_comes_from_the_first_supported_language() -> None:
    assert pick_locale(None, "en-US,en;q=0.9") == "en"
    assert pick_locale("fr", "zh-CN") == "zh"
    assert pick_locale(None, None, default="en") == "en"


# ------------------------------------------------------------------ the city's clock

SHANGHAI = "Asia/Shanghai"
# 2024-03-01 18:15 UTC is already 2 March in Shanghai.
EVENING_IN_UTC = datetime(2024, 3, 1, 18, 15, tzinfo=UTC)


def test_times_are_shown_on_the_city_clock_in_the_readers_language() -> None:
    assert format_datetime(EVENING_IN_UTC, "zh", SHANGHAI) == "2024年3月2日 02:15"
    assert format_datetime(EVENING_IN_UTC, "en", SHANGHAI) == "Mar 2, 2024, 2:15\u202fAM"
    assert format_datetime(EVENING_IN_UTC, "zh", SHANGHAI, year=False) == "3月2日 02:15"
    assert format_datetime(EVENING_IN_UTC, "zh", "Europe/London") == "2024年3月1日 18:15"


def test_a_stored_time_without_a_zone_is_utc() -> None:
    naive = EVENING_IN_UTC.replace(tzinfo=None)
    assert format_datetime(naive, "zh", SHANGHAI) == "2024年3月2日 02:15"
    assert city_day(naive, SHANGHAI) == date(2024, 3, 2)


def test_a_time_falls_on_the_citys_day() -> None:
    assert format_date(EVENING_IN_UTC, "zh", SHANGHAI) == "2024年3月2日"
    assert format_date(date(2024, 3, 2), "en") == "Mar 2, 2024"
    assert format_date(date(2024, 3, 2), "en", year=False) == "Mar 2"
    with pytest.raises(ValueError):
        format_date(EVENING_IN_UTC, "zh")


def test_the_citys_day_begins_at_its_own_midnight() -> None:
    assert day_start(date(2024, 3, 2), SHANGHAI) == datetime(2024, 3, 1, 16, tzinfo=UTC)
    assert city_day(datetime(2024, 3, 1, 15, 59, tzinfo=UTC), SHANGHAI) == date(2024, 3, 1)
    assert city_day(datetime(2024, 3, 1, 16, 0, tzinfo=UTC), SHANGHAI) == date(2024, 3, 2)


def test_durations_name_their_two_largest_units() -> None:
    assert format_duration(timedelta(hours=3, minutes=10), "en") == "3 hr 10 min"
    assert format_duration(timedelta(days=2, hours=4, minutes=3), "zh") == "2天 4小时"
    assert format_duration(timedelta(days=9), "en") == "9 days"  # not rounded to a week
    assert format_duration(-timedelta(minutes=5), "zh") == "5分钟"
    assert format_duration(timedelta(seconds=20), "en") == "0 min"


def test_a_missing_field_is_named_in_words_with_its_action() -> None:
    """Every field a record kind's action requires, and the fields the cases' rules ask
    for themselves, are named in both languages with their action: no codes."""
    from civicgrid.assess.domain import APPEAL
    from civicgrid.cases.domain import CASE
    from civicgrid.core.workflow import FieldRequired, RecordKind
    from civicgrid.exchange.domain import SHARE_GRANT, SHARE_REQUEST

    kinds: list[RecordKind[object]] = [CASE, SHARE_REQUEST, SHARE_GRANT, APPEAL]  # type: ignore[list-item]
    asked = [
        (kind.messages, action, name)
        for kind in kinds
        for action, spec in kind.actions.items()
        for name in spec.requires
    ]
    asked += [("case", "dispatch", "department"), ("case", "rework", "reason")]
    asked += [("case", "merge", "into")]
    for prefix, action, name in asked:
        for locale in LOCALES:
            assert has_message(f"{prefix}_act.{action}"), (prefix, action)
            assert has_message(f"{prefix}_field.{name}"), (prefix, name)
            text = FieldRequired(prefix, action, name).message(locale)
            for label in (f"{prefix}_act.{action}", f"{prefix}_field.{name}"):
                assert translate(label, locale) in text, text
    whistle = FieldRequired("case", "whistle", "reason")
    assert whistle.message("zh") == "请填写吹哨的理由"
    assert whistle.message("en") == "Give the reason for the whistle"
    assert whistle.params == {"field": "reason", "action": "whistle"}  # codes for programs
    assert FieldRequired("case", "resolve_on_spot", "attachments").message("zh") == (
        "请为就地解决上传现场照片"
    )
