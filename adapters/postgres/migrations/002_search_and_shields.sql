-- Search and shielding columns of the directory.
--
-- shielded / shield_review: a shielded child must not be found by a search
-- on a hidden field (postcode, previous names) unless the viewer holds the
-- shield role, and shield officers list the shields due for review.
-- family_dm / given_dm: Double Metaphone codes for phonetic matching, kept
-- as generated columns so that the projection cannot forget them.
alter table directory add column shielded boolean not null default false;
alter table directory add column shield_review date;
alter table directory add column family_dm text generated always as (dmetaphone(coalesce(family_name, ''))) stored;
alter table directory add column given_dm text generated always as (dmetaphone(coalesce(given_name, ''))) stored;

create index directory_family_dm on directory (family_dm);
create index directory_names_trgm on directory using gin (names gin_trgm_ops);
create index directory_shield_review on directory (shield_review) where shielded;

---- create above / drop below ----

drop index if exists directory_shield_review;
drop index if exists directory_names_trgm;
drop index if exists directory_family_dm;
alter table directory drop column given_dm;
alter table directory drop column family_dm;
alter table directory drop column shield_review;
alter table directory drop column shielded;
