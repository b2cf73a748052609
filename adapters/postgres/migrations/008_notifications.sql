-- notifications: every notice the notifier has delivered, keyed by its
-- notification id, so that a redelivered event or a second daily check
-- sends nothing twice. The id is a hash of where the notice came from (the
-- CHILDREN sequence, or the shield or review task and its due period), the
-- recipient and the channel. A row names ids only: the recipient is a
-- practitioner id or a hash of the address, never the address itself.
create table notifications (
    id        text primary key,
    kind      text not null,        -- involvement, shield-review, review-waiting
    ref       text not null,        -- the child id or the review task id
    recipient text not null,        -- practitioner id, or a hash of the contact route
    channel   text not null,        -- smtp, webhook
    stream    text,                 -- where the notice came from
    seq       bigint,
    sent_at   timestamptz not null default now(),
    audited_at timestamptz           -- the audit entry is written after the row, so a retry audits without resending
);
create index notifications_sent_at on notifications (sent_at);

-- notifications_parked: a message whose notices still failed after the
-- retries, for an administrator to see and retry. One row per message: a
-- retry that fails again updates it. Reasons are kinds and reply codes,
-- never what the mail server or webhook said.
create table notifications_parked (
    id         bigserial primary key,
    stream     text not null,       -- CHILDREN, or NOTIFY for the daily notices
    seq        bigint not null,
    kind       text not null,       -- involvement, shield-review, review-waiting
    reason     text not null,
    attempts   int not null default 1,
    parked_at  timestamptz not null default now(),
    retried_at timestamptz,
    resolved_at timestamptz,
    unique (stream, seq)
);
create index notifications_parked_open on notifications_parked (parked_at) where resolved_at is null;

---- create above / drop below ----

drop table if exists notifications_parked;
drop table if exists notifications;
