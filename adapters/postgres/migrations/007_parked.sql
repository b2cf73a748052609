-- parked_messages: stream messages a consumer could not apply, so that one
-- bad message never stops the linker or a projection. The consumer writes
-- the row in the same transaction as the checkpoint that passes the
-- message. The row names the message and why, never what it holds: the
-- message stays in its stream, where an operator can read it.
create table parked_messages (
    consumer  text not null,        -- the consumer's checkpoint name: linker, directory, audit
    stream    text not null,
    seq       bigint not null,
    subject   text not null,
    kind      text not null,        -- undecodable, invalid-event, invalid-record, apply-failed, apply-panicked
    detail    text not null,        -- what was wrong, naming fields or database codes, never values
    parked_at timestamptz not null default now(),
    primary key (consumer, stream, seq)
);
create index parked_messages_parked_at on parked_messages (parked_at, consumer, stream, seq);

-- hub_secrets: keys every instance of a deployment must share and that
-- outlive any one process. Written with insert ... on conflict do nothing
-- and read back, so concurrent first starts agree on one value.
create table hub_secrets (
    name       text primary key,
    value      bytea not null,
    created_at timestamptz not null default now()
);

---- create above / drop below ----

drop table if exists hub_secrets;
drop table if exists parked_messages;
