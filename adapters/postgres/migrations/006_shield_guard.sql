-- The shield belongs to the child, and a possible duplicate of a shielded
-- child is treated as shielded until a data steward decides.
--
-- shield_own / shield_contact: the child's own shield, from its events.
-- guard: set while an open review task pairs the child with a shielded
--   child ({"candidates": [...], "contact": "..."}), null otherwise.
-- shielded: from now on the child is restricted — shielded itself or
--   guarded — which is what every search condition on a hidden field uses
--   (domain/access.Restricted is the rule; the projection derives it).
-- shield_reveals: break-glass reveals, one row per shield.revealed event.
alter table directory add column shield_own boolean not null default false;
alter table directory add column shield_contact text;
alter table directory add column guard jsonb;
update directory set shield_own = shielded;
-- sensitive: the source stated a sensitive service, so its system and
-- record id would name the service and are never exported.
alter table directory_sources add column sensitive boolean not null default false;

drop index if exists directory_shield_review;
create index directory_shield_review on directory (shield_review) where shield_own;

create table shield_reveals (
    seq             bigint not null,
    child_id        uuid not null,
    practitioner_id text not null,
    reason          text not null,
    revealed_at     timestamptz not null,
    until           timestamptz not null,
    primary key (seq, child_id)
);
create index shield_reveals_viewer on shield_reveals (practitioner_id, child_id, until);
create index shield_reveals_at on shield_reveals (revealed_at);

---- create above / drop below ----

drop table if exists shield_reveals;
drop index if exists directory_shield_review;
create index directory_shield_review on directory (shield_review) where shielded;
alter table directory_sources drop column sensitive;
alter table directory drop column guard;
alter table directory drop column shield_contact;
alter table directory drop column shield_own;
