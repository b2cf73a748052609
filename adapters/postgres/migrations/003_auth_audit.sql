-- The practitioner register, projected from the REGISTRY stream. state is
-- the folded entry; the typed columns serve sign-in and listing.
create table practitioners (
    id         uuid primary key,
    username   text not null unique,
    status     text not null,
    state      jsonb not null,
    last_seq   bigint not null,
    updated_at timestamptz not null default now()
);

-- Sign-in secrets. They are kept out of the event log on purpose: a log
-- cannot forget, and a password hash or TOTP key should be replaceable
-- without trace. Lockout counters live here too.
create table credentials (
    practitioner_id uuid primary key,
    password_hash   text not null,
    totp_secret     text not null,
    totp_last_step  bigint not null default 0,
    failures        integer not null default 0,
    locked_until    timestamptz,
    updated_at      timestamptz not null default now()
);

-- Web sessions, so that signing out ends one for good.
create table auth_sessions (
    id              text primary key,
    practitioner_id uuid not null,
    created_at      timestamptz not null default now(),
    expires_at      timestamptz not null,
    ended_at        timestamptz
);
create index auth_sessions_practitioner on auth_sessions (practitioner_id);

-- Agency systems' API keys, projected from REGISTRY. Only a SHA-256 of the
-- (high-entropy) secret is kept.
create table agency_keys (
    id         text primary key,
    agency     text not null,
    system     text not null,
    secret_sha bytea not null,
    created_at timestamptz not null,
    revoked_at timestamptz,
    last_seq   bigint not null
);

-- The audit trail, projected from the AUDIT stream.
create table audit_events (
    seq      bigint primary key,
    id       uuid not null unique,
    at       timestamptz not null,
    action   text not null,
    outcome  text not null,
    actor    text not null default '',
    roles    text[] not null default '{}',
    system   text not null default '',
    route    text not null default '',
    status   integer not null default 0,
    reason   text not null default '',
    subject  text not null default '',
    criteria jsonb not null default '{}',
    children text[] not null default '{}'
);
create index audit_events_actor on audit_events (actor, at);
create index audit_events_at on audit_events (at);
create index audit_events_children on audit_events using gin (children);
