"""Identity: accounts, roles, password history, verification codes, lockout, OAuth clients and grants, signing keys.

Revision ID: 0003_identity
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0003_identity"
down_revision = "0001"
branch_labels = ("identity",)
depends_on = None

_TABLES = """
create table hub.account (
    id text primary key,
    kind text not null check (kind in ('person', 'unit_operator', 'staff')),
    -- persons: blind index (HMAC) of the document number; unit operators and staff: the login name
    login text not null,
    unit_id bigint,                 -- unit operators: the core unit (AAB001)
    person_id bigint,               -- persons: the core person (AAC001), bound after the real-name check
    unit_admin boolean not null default false,
    display_name text not null,
    phone text,                     -- where SMS codes go (persons: the phone the core holds)
    password_hash text not null,
    password_changed_at timestamptz not null,
    totp_secret bytea,              -- staff: encrypted TOTP secret, when enrolled
    region_codes text[] not null default '{}',
    status text not null default 'active' check (status in ('active', 'disabled')),
    created_at timestamptz not null,
    created_by text
);
create unique index account_person_login on hub.account (login) where kind = 'person';
create unique index account_person_id on hub.account (person_id) where kind = 'person';
create unique index account_operator_login on hub.account (unit_id, login) where kind = 'unit_operator';
create unique index account_staff_login on hub.account (login) where kind = 'staff';

create table hub.account_role (
    account_id text not null references hub.account on delete cascade,
    role text not null check (role in ('operator', 'reviewer', 'system_admin', 'security_admin', 'auditor')),
    granted_by text not null,
    granted_at timestamptz not null,
    primary key (account_id, role)
);

create table hub.password_history (
    id bigserial primary key,
    account_id text not null references hub.account on delete cascade,
    password_hash text not null,
    created_at timestamptz not null
);
create index password_history_account on hub.password_history (account_id, id desc);

-- One row per code sent (or per TOTP challenge): a ticket the form carries, never the code itself.
create table hub.verification_code (
    ticket text primary key,
    purpose text not null,
    binding text not null,          -- what asked: 'account:<id>', 'person:<AAC001>', ...
    method text not null check (method in ('sms', 'totp')),
    code_hmac text,
    phone_masked text,
    created_at timestamptz not null,
    expires_at timestamptz not null,
    checks integer not null default 0,
    used_at timestamptz
);
create index verification_code_expiry on hub.verification_code (expires_at);

-- Consecutive failures per account and source ('*' = across all sources).
create table hub.login_failure (
    account_id text not null references hub.account on delete cascade,
    source text not null,
    failures integer not null default 0,
    locked_until timestamptz,
    updated_at timestamptz not null,
    primary key (account_id, source)
);

create table hub.oauth_client (
    client_id text primary key,
    secret_hash text,               -- null: a public client (PKCE, no secret)
    name text not null,
    channel text not null check (channel in ('portal', 'app', 'kiosk', 'hotline', 'hall', 'partner')),
    grant_types text[] not null,
    redirect_uris text[] not null default '{}',
    scopes text[] not null,
    created_at timestamptz not null
);

create table hub.oauth_code (
    code_hash text primary key,
    client_id text not null references hub.oauth_client,
    account_id text not null references hub.account,
    redirect_uri text,
    scope text not null,
    code_challenge text not null,
    code_challenge_method text not null,
    nonce text,
    auth_methods text[] not null,
    expires_at timestamptz not null,
    used_at timestamptz
);

-- A grant: one authorization (or client credentials issue) and the family of its refresh tokens.
create table hub.oauth_grant (
    id text primary key,
    client_id text not null references hub.oauth_client,
    account_id text references hub.account,
    scope text not null,
    auth_methods text[] not null,
    created_at timestamptz not null,
    revoked_at timestamptz,
    revoked_reason text
);

create table hub.oauth_refresh_token (
    token_hash text primary key,
    grant_id text not null references hub.oauth_grant on delete cascade,
    created_at timestamptz not null,
    expires_at timestamptz not null,
    used_at timestamptz
);
create index oauth_refresh_token_grant on hub.oauth_refresh_token (grant_id);

create table hub.oauth_revoked_jti (
    jti text primary key,
    expires_at timestamptz not null
);

create table hub.signing_key (
    kid text primary key,
    created_at timestamptz not null,
    private_jwk bytea not null,     -- AES-256-GCM under the key-encryption key from settings
    public_jwk jsonb not null,
    retired_at timestamptz
);
"""


def upgrade() -> None:
    op.execute(_TABLES)


def downgrade() -> None:
    for table in (
        "signing_key",
        "oauth_revoked_jti",
        "oauth_refresh_token",
        "oauth_grant",
        "oauth_code",
        "oauth_client",
        "login_failure",
        "verification_code",
        "password_history",
        "account_role",
        "account",
    ):
        op.execute(f"drop table if exists hub.{table}")
