"""The 掌上12333 app: version check per platform, content (policies, news, agency introductions) with its
revision history, the personal inbox, and the LBS agency directory (seeded with the 长沙 service halls).

Revision ID: 0009_app
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import json

from alembic import op

revision = "0009_app"
down_revision = "0001"
branch_labels = ("app",)
depends_on = None

HOURS_WEEKDAY = {d: ["09:00-12:00", "13:30-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
HOURS_SATURDAY = {**HOURS_WEEKDAY, "sat": ["09:00-12:00"]}

# A few service halls of 长沙 (addresses and coordinates as published on map services, WGS-84 degrees).
AGENCIES = [
    (
        "长沙市社会保险服务中心",
        "430100",
        "湖南省长沙市岳麓区岳麓大道218号市政府新办公楼附近市民之家",
        "0731-12333",
        "112.944800",
        "28.234600",
        HOURS_SATURDAY,
        ["机关事业单位养老保险参保登记", "缴费基数申报", "个人权益记录打印", "待遇申领", "关系转移接续"],
    ),
    (
        "芙蓉区社会保险服务中心",
        "430102",
        "湖南省长沙市芙蓉区人民中路398号",
        "0731-84686312",
        "113.006500",
        "28.193600",
        HOURS_WEEKDAY,
        ["参保证明打印", "社保卡挂失与补换", "待遇资格认证"],
    ),
    (
        "天心区社会保险服务中心",
        "430103",
        "湖南省长沙市天心区书院路9号",
        "0731-85899523",
        "112.981300",
        "28.182400",
        HOURS_WEEKDAY,
        ["参保证明打印", "个人账户查询", "待遇资格认证"],
    ),
    (
        "岳麓区社会保险服务中心",
        "430104",
        "湖南省长沙市岳麓区桐梓坡路与麓谷大道交汇处岳麓区政务服务中心",
        "0731-88992331",
        "112.887000",
        "28.235900",
        HOURS_SATURDAY,
        ["参保登记", "缴费基数申报", "社保卡申领"],
    ),
    (
        "开福区社会保险服务中心",
        "430105",
        "湖南省长沙市开福区芙蓉中路一段442号",
        "0731-84528563",
        "112.987300",
        "28.226200",
        HOURS_WEEKDAY,
        ["参保证明打印", "关系转移接续"],
    ),
    (
        "雨花区社会保险服务中心",
        "430111",
        "湖南省长沙市雨花区香樟路819号雨花区政务服务中心",
        "0731-85493210",
        "113.035500",
        "28.135700",
        HOURS_WEEKDAY,
        ["参保登记", "待遇申领", "社保卡挂失与补换"],
    ),
]


def upgrade() -> None:
    op.execute(
        """
        create table hub.app_version (
            platform text primary key check (platform in ('android', 'ios', 'harmony')),
            latest text not null,                 -- dotted numbers, e.g. 3.2.1
            minimum text not null,                -- oldest version still served; older ones must update
            download_url text not null,
            notes text not null default '',
            updated_at timestamptz not null,
            updated_by text not null
        )
        """
    )
    op.execute(
        """
        create table hub.content_item (
            id bigint generated always as identity primary key,
            kind text not null check (kind in ('policy', 'news', 'agency_intro')),
            title text not null check (length(title) between 1 and 100),
            summary text not null default '' check (length(summary) <= 200),
            body text not null check (length(body) between 1 and 20000),
            status text not null default 'draft' check (status in ('draft', 'published', 'withdrawn')),
            revision int not null default 1,
            created_at timestamptz not null,
            created_by text not null,
            updated_at timestamptz not null,
            published_at timestamptz,
            withdrawn_at timestamptz
        )
        """
    )
    op.execute(
        "create index content_item_published on hub.content_item (kind, published_at desc, id desc) "
        "where status = 'published'"
    )
    op.execute(
        """
        create table hub.content_revision (
            item_id bigint not null references hub.content_item (id),
            revision int not null,
            title text not null,
            summary text not null,
            body text not null,
            at timestamptz not null,
            by_account text not null,
            primary key (item_id, revision)
        )
        """
    )
    op.execute(
        """
        create table hub.inbox_message (
            id bigint generated always as identity primary key,
            person_id bigint not null,            -- internal person id (AAC001), never an ID number
            kind text not null check (kind in ('business', 'payment', 'card', 'policy', 'system')),
            title text not null check (length(title) between 1 and 60),
            body text not null check (length(body) between 1 and 2000),
            link text,
            source_key text,                      -- the sender's idempotency key
            created_at timestamptz not null,
            read_at timestamptz,
            unique (person_id, source_key)
        )
        """
    )
    op.execute("create index inbox_person on hub.inbox_message (person_id, id desc)")
    op.execute("create index inbox_unread on hub.inbox_message (person_id) where read_at is null")
    op.execute(
        """
        create table hub.app_agency (
            id bigint generated always as identity primary key,
            name text not null,
            region_code text not null,
            address text not null,
            phone text not null,
            longitude numeric(9, 6) not null check (longitude between -180 and 180),
            latitude numeric(9, 6) not null check (latitude between -90 and 90),
            opening_hours jsonb not null,         -- {"mon": ["09:00-12:00", "13:30-17:00"], ...}
            services text[] not null default '{}',
            active boolean not null default true
        )
        """
    )
    for name, region, address, phone, lon, lat, hours, services in AGENCIES:
        op.get_bind().exec_driver_sql(
            "insert into hub.app_agency (name, region_code, address, phone, longitude, latitude, opening_hours, "
            "services) values (%s, %s, %s, %s, %s, %s, %s::jsonb, %s)",
            (name, region, address, phone, lon, lat, json.dumps(hours, ensure_ascii=False), services),
        )


def downgrade() -> None:
    for table in ("app_agency", "inbox_message", "content_revision", "content_item", "app_version"):
        op.execute(f"drop table hub.{table}")
