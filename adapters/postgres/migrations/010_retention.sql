-- A record ends when the law says (domain/retention). The directory keeps
-- the day a child was archived (search leaves it out for ordinary viewers;
-- stewards find it for a year) and the retention facts the scheduler
-- decides on (care-leaver consent, a death, a legal hold), so that the
-- daily run reads only the children something could be due for.
alter table directory add column archived_on date;
alter table directory add column retention jsonb;
create index directory_retention on directory (status) where status = 'archived' or retention is not null;

-- audit_keys: the key that seals the criteria of an audit entry naming
-- children (search criteria hold names and postcodes). AUDIT denies deletes
-- and purges, so an erasure destroys the key instead: every copy of the
-- entry, in the stream, its mirrors and backups, keeps its ids and loses its
-- criteria. Not a projection table: a rebuild of audit_events reads it.
create table audit_keys (
    entry_id uuid primary key,
    key      bytea not null,
    children text[] not null
);
create index audit_keys_children on audit_keys using gin (children);

-- retention_runs: what the scheduler did, one row per child and action, so
-- that a second run on the same day (or a retry) does nothing twice. Ids,
-- rules and days only.
create table retention_runs (
    child_id uuid not null,
    action   text not null,
    rule     text not null,
    due_on   date not null,
    done_at  timestamptz not null default now(),
    primary key (child_id, action)
);

---- create above / drop below ----

drop table retention_runs;
drop table audit_keys;
drop index if exists directory_retention;
alter table directory drop column retention;
alter table directory drop column archived_on;
