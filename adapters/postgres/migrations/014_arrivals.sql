-- Arrivals (projections/arrivals): how many records reached the event log
-- per UTC day, agency and system, so that the data-quality report counts
-- what arrived rather than what the directory shows now. Counts and times
-- only, never a child's data. Both are projections: checkpointed in the
-- same transaction as their rows and rebuilt from their streams.

-- feed_arrivals follows FEEDS: every message the stream holds (a resend of
-- the same content inside the dedupe window is not held, so not counted).
create table feed_arrivals (
    day      date not null,
    agency   text not null,
    system   text not null,
    received bigint not null,
    last_at  timestamptz not null,
    primary key (day, agency, system)
);

-- quarantine_arrivals and quarantine_arrival_rules follow QUARANTINE: every
-- refused input (resolution markers are not arrivals), and per rule how many
-- of those entries it refused.
create table quarantine_arrivals (
    day         date not null,
    agency      text not null,
    system      text not null,
    quarantined bigint not null,
    last_at     timestamptz not null,
    primary key (day, agency, system)
);

create table quarantine_arrival_rules (
    day     date not null,
    agency  text not null,
    system  text not null,
    rule    text not null,
    entries bigint not null,
    primary key (day, agency, system, rule)
);
