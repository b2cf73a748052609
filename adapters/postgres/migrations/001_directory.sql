create extension if not exists pg_trgm;
create extension if not exists fuzzystrmatch;

-- Where each consumer of the event log has got to. A projection writes its
-- checkpoint in the same transaction as its rows.
create table checkpoints (
    name       text primary key,
    stream     text not null,
    last_seq   bigint not null,
    updated_at timestamptz not null default now()
);

-- The directory: one row per child, derived from the CHILDREN stream.
-- state is the projection's working copy of what each source stated;
-- view is the survivorship result; the typed columns serve search. Both
-- documents are JSON kept as bytea: the database never looks inside them,
-- so it need not parse them on every write, and they are stored
-- uncompressed because compressing on every rewrite costs more CPU than
-- the disk it saves.
create table directory (
    child_id     uuid primary key,
    status       text not null default 'active',
    merged_into  uuid,
    family_name  text,
    given_name   text,
    birth_date   date,
    gender       text,
    postcode     text,
    nhs_number   text,
    upn          text,
    names        text not null default '',
    state        bytea not null,
    view         bytea not null,
    last_seq     bigint not null,
    updated_at   timestamptz not null default now()
);

alter table directory alter column state set storage external;
alter table directory alter column view set storage external;

create index directory_family_trgm on directory using gin (family_name gin_trgm_ops);
create index directory_given_trgm on directory using gin (given_name gin_trgm_ops);
create index directory_birth_date on directory (birth_date);
create index directory_postcode on directory (postcode);
create index directory_nhs on directory (nhs_number) where nhs_number is not null;
create index directory_upn on directory (upn) where upn is not null;

-- Which child each source record is linked to: the data-quality view.
create table directory_sources (
    agency     text not null,
    system     text not null,
    record_id  text not null,
    child_id   uuid not null,
    withdrawn  boolean not null default false,
    primary key (agency, system, record_id)
);
create index directory_sources_child on directory_sources (child_id);
