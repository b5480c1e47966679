"""One typed settings object, read from CIVICGRID_* environment variables.

Every setting is documented in the README's "Configuration" table.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from civicgrid.core.instance import MIN_SECRET_CHARS, instance_secret
from civicgrid.core.proxies import parse_networks

# The most photos one request may carry (a report, an action, an Open311 request).
MAX_PHOTOS_PER_REQUEST = 9


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CIVICGRID_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///var/civicgrid.db"
    # Signs access tokens and reporters' passes and keys the registry's identity hashes.
    # Unset, it is generated on the first start and kept in the instance folder; production
    # must set it.
    secret_key: str = ""
    # What this installation keeps of its own beside the database (the generated secret).
    instance_dir: Path = Path("var")
    token_ttl_minutes: int = 8 * 60
    default_locale: Literal["zh", "en"] = "zh"
    # The city's time zone (an IANA name): pages, commands and messages show every date and
    # time in it, and the figures' days and months are its own. Stored times and what
    # machines read (the API, open data) stay UTC.
    timezone: str = "Asia/Shanghai"
    host: str = "127.0.0.1"
    port: int = 8000
    # Request threads per server process. Python runs one thread at a time; more threads
    # than this mostly add lock hand-offs between them (see bench/intake.py).
    threads: int = 4
    # OpenTelemetry spans, metrics and logs of every request, sent to the providers the
    # deployment configures (FastAPI's telemetry). Off by default: when nobody collects
    # them they cost each request a few per cent for nothing.
    telemetry: bool = False
    # Cases
    duplicate_radius_m: float = 50.0
    duplicate_window_hours: float = 72.0
    max_attachment_mb: float = 10.0
    # An uploaded image may have at most this many pixels (all frames of an animation
    # together), read from its header before anything is decoded: a small file can claim
    # a picture that takes gigabytes to decode, on the server and in every browser that
    # shows it. 50 lets through the 48-megapixel photos of today's phones.
    max_image_megapixels: float = 50.0
    # The largest request body taken, counted as it arrives (Content-Length is believed
    # only to refuse early): 413 past it. 0 means room for the most photos a request takes
    # (nine) of max_attachment_mb each, base64-encoded as the JSON API sends them, and
    # 1 MB for the rest: 121 MB by default.
    max_request_mb: float = 0.0
    # Origins besides the site's own (the Host a request was sent to, by HTTP or HTTPS)
    # whose pages may post forms here, comma-separated (https://gov.example.cn): for a
    # proxy that does not pass the Host on. Anything else is refused as cross-site.
    trusted_origins: str = ""
    max_description_chars: int = 4000
    # Intake stores reports in batches (cases.intake): after the first report of a batch it
    # waits this long for others. Longer means fewer, larger transactions (less CPU per
    # case under load) and that much more latency for each report.
    intake_gather_ms: float = 2.0
    fallback_category: str = "OT01"
    # Insight: the category-suggestion model trained from closed cases (`civicgrid insight
    # retrain`); intake falls back to matching category keywords while there is none, or
    # always when this is empty.
    suggestion_model_path: str = "var/models/category_suggestions.joblib"
    # Retrain those suggestions from the closed cases every so many hours (a job of the
    # server's scheduler; 0: only on demand, from the insight page or `civicgrid insight
    # retrain`).
    retrain_every_hours: float = 168.0
    # A report whose urgency score (0–1: threats, danger, vulnerable people, anger) reaches
    # this is taken in as urgent; above 1 turns the raise off.
    urgency_threshold: float = 0.6
    # Hot spots and surges: how often the server scans the cases for them (0: never; then
    # run `civicgrid insight warnings scan` from cron).
    warning_scan_minutes: int = 60
    # Assessment: the engine that runs the indicators ("duckdb": a columnar snapshot in the
    # instance folder; "postgres": the live fact table, PostgreSQL only; "spark": Parquet
    # files at assess_spark_parquet), how often the facts follow the timelines (0: never;
    # then run `civicgrid assess refresh` from cron), the days a frozen month takes appeals,
    # how often threshold alerts are checked (0: never), and the font PDF reports embed
    # (PATH or PATH#FACE; empty: Noto Sans CJK or another CJK font found on the system).
    assess_engine: Literal["duckdb", "postgres", "spark"] = "duckdb"
    assess_refresh_seconds: int = 5
    assess_appeal_days: int = 10
    assess_alert_minutes: int = 60
    assess_spark_parquet: str = ""
    pdf_font: str = ""
    # The periodic jobs wake at least this often (sooner when a job's period is shorter).
    scheduler_interval_seconds: int = 60
    # `civicgrid serve` runs the periodic jobs in a thread of each server process; a
    # deployment that runs `civicgrid worker` beside its servers turns this off.
    embedded_worker: bool = True
    # The outbox: how often its messages are delivered, and where they go. Without an SMTP
    # host e-mails are written to the log; without an SMS webhook, SMS too. A unit's own
    # system is told of new work at the webhook address registered with the unit; with a
    # webhook secret every POST carries its HMAC-SHA256 (X-CivicGrid-Signature).
    outbox_interval_seconds: int = 5
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_sender: str = "civicgrid@localhost"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    sms_webhook_url: str = ""
    webhook_secret: str = ""
    # Tracking a case by number and phone: attempts per client address per minute.
    track_attempts_per_minute: int = 10
    # Residents' own accounts, and reports or supports without one: per client address
    # per hour, so a script cannot fill the platform.
    signups_per_hour: int = 10
    guest_reports_per_hour: int = 30
    # Logging in: failed attempts counted per account and per client address within a
    # window; an account with too many is locked for a while (even the right password is
    # refused), an address with too many may not try any account until its window allows.
    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=30, ge=1)
    login_failure_window_minutes: float = Field(default=15.0, gt=0)
    login_lockout_minutes: float = Field(default=15.0, gt=0)
    # The reverse proxies whose X-Forwarded-For (and -Proto) is believed: addresses or
    # networks, comma-separated. Empty: none, every client is the socket's peer.
    trusted_proxies: str = ""
    # The data-sharing exchange: the city's public holidays and the weekend days worked
    # instead (调休), as days and periods (2026-10-01..2026-10-07), comma-separated, which
    # the owners' working-day deadlines skip and count; how many yes/no questions one unit
    # may ask a minute; how often the datasets whose data changed are measured again.
    exchange_holidays: str = ""
    exchange_workdays: str = ""
    exchange_verify_per_minute: int = Field(default=60, ge=1)
    exchange_quality_minutes: int = Field(default=60, ge=0)
    # The audit log (civicgrid.audit): its name in every checkpoint (a schema-less URL that
    # names this installation), its Ed25519 signing key (a note signer key "PRIVATE+KEY+…";
    # unset: generated into the instance folder on first use), how often a checkpoint is
    # signed while entries arrive (0: never; then run `civicgrid audit checkpoint` from
    # cron), and the witnesses whose cosignatures it keeps (verifier keys, comma-separated).
    audit_origin: str = "civicgrid.localhost/audit"
    audit_signing_key: str = ""
    audit_checkpoint_seconds: int = Field(default=5, ge=0)
    audit_witnesses: str = ""
    # The base map under every map: an XYZ tile layer the city chooses (天地图 with its key
    # `tk`, or its own tile server), as a URL template with {z}, {x}, {y} and optionally
    # {s} (one of basemap_subdomains, each a character or comma-separated names); an
    # optional second layer drawn over it (天地图's labels, cva_w); the credit the tiles
    # require; their deepest zoom; and the coordinates they are drawn in (wgs84, which
    # 天地图's CGCS2000 is to within centimetres, or gcj02 for AMap-style tiles, onto which
    # the pages shift our WGS-84 data). Empty: no tiles, nothing is fetched from another
    # site, and the maps draw what CivicGrid knows (outlines, names, roads, buildings).
    basemap_url: str = ""
    basemap_overlay_url: str = ""
    basemap_attribution: str = ""
    basemap_max_zoom: int = Field(default=18, ge=1, le=22)
    basemap_subdomains: str = ""
    basemap_crs: Literal["wgs84", "gcj02"] = "wgs84"

    @field_validator("max_image_megapixels", "max_request_mb")
    @classmethod
    def _positive(cls, value: float, info: ValidationInfo) -> float:
        if value < 0 or (value == 0 and info.field_name == "max_image_megapixels"):
            raise ValueError("must be more than 0 (必须大于 0)")
        return value

    @model_validator(mode="after")
    def _request_room(self) -> Settings:
        if not self.max_request_mb:
            photos = MAX_PHOTOS_PER_REQUEST * self.max_attachment_mb * 4 / 3
            self.max_request_mb = math.ceil(photos) + 1
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ValueError, KeyError, OSError) as exc:  # not a name, unknown, a folder
            raise ValueError(
                f"CIVICGRID_TIMEZONE must name a time zone such as Asia/Shanghai, not {name!r} "
                f"(时区名称无效)"
            ) from exc
        return name

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, text: str) -> str:
        try:
            parse_networks(text)
        except ValueError as exc:
            raise ValueError(
                f"CIVICGRID_TRUSTED_PROXIES: {exc} (可信代理须为 IP 地址或网段，以逗号分隔)"
            ) from exc
        return text

    @field_validator("basemap_url", "basemap_overlay_url")
    @classmethod
    def _tile_template(cls, url: str, info: ValidationInfo) -> str:
        url = url.strip()
        if url and not (
            url.startswith(("https://", "http://"))
            and all(part in url for part in ("{z}", "{x}", "{y}"))
        ):
            name = f"CIVICGRID_{(info.field_name or '').upper()}"
            raise ValueError(
                f"{name} must be an http(s) URL template with {{z}}, {{x}} and {{y}}, "
                f"not {url!r} (底图地址须为含 {{z}}、{{x}}、{{y}} 的瓦片地址模板)"
            )
        return url

    @property
    def basemap_subdomain_list(self) -> list[str]:
        """The names {s} takes: "a,b,c" or "01234567" (each character one)."""
        text = self.basemap_subdomains.strip()
        if "," in text:
            return [part.strip() for part in text.split(",") if part.strip()]
        return list(text)

    @property
    def basemap_hosts(self) -> list[str]:
        """The origins the configured tiles come from (scheme and host, {s} written out
        for each subdomain): what the pages' img-src lets in beside our own."""
        hosts: list[str] = []
        for url in (self.basemap_url, self.basemap_overlay_url):
            if not url:
                continue
            scheme, _, rest = url.partition("://")
            host = rest.split("/", 1)[0].split("?", 1)[0]
            names = self.basemap_subdomain_list if "{s}" in host else [""]
            for name in names or ["a", "b", "c"]:
                origin = f"{scheme}://{host.replace('{s}', name)}"
                if origin not in hosts:
                    hosts.append(origin)
        return hosts

    @model_validator(mode="after")
    def _private_secret(self) -> Settings:
        # Production names its secret, so every machine of it signs alike and a lost folder
        # cannot silently change it.
        if self.environment == "production":
            if len(self.secret_key) < MIN_SECRET_CHARS:
                raise ValueError(
                    f"CIVICGRID_SECRET_KEY must be set to a private value of at least "
                    f"{MIN_SECRET_CHARS} characters in production "
                    f"(生产环境必须设置至少 {MIN_SECRET_CHARS} 个字符的私有密钥)"
                )
        elif not self.secret_key:
            self.secret_key = instance_secret(self.instance_dir)
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
