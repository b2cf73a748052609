-- Duplicate resolution read models, maintained by the directory projection
-- in the same transactions as the directory rows.
--
-- review_tasks: possible matches the linker was not sure of, for data
-- stewards, oldest first, with the field-by-field evidence. task_id is the
-- CHILDREN sequence of the request, so a rebuild gives the same ids.
create table review_tasks (
    task_id          bigint primary key,
    child_id         uuid not null,
    candidate_id     uuid not null,
    source_agency    text,
    source_system    text,
    source_record_id text,
    score            double precision not null,
    evidence         jsonb,
    requested_at     timestamptz not null,
    status           text not null default 'open', -- open, linked, not-linked
    decided_by       text,
    decided_at       timestamptz,
    reason           text
);
create index review_tasks_open on review_tasks (requested_at, task_id) where status = 'open';
create index review_tasks_child on review_tasks (child_id);
create index review_tasks_candidate on review_tasks (candidate_id);

-- linkage_decisions: every merge, split and not-link, with who and why.
create table linkage_decisions (
    seq        bigint not null,
    child_id   uuid not null,
    kind       text not null, -- absorbed, merged-into, moved-out, not-linked
    other_id   uuid,
    decided_by text not null,
    reason     text,
    decided_at timestamptz not null,
    primary key (seq, child_id, kind, other_id)
);
create index linkage_decisions_child on linkage_decisions (child_id);

---- create above / drop below ----

drop table linkage_decisions;
drop table review_tasks;
