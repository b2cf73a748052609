-- Reads that follow merges. A survivor's FHIR read names the children it
-- absorbed (its replaces links), found by walking merged_into from the
-- survivor down through chains of merges (directory.Absorbed); without an
-- index each step is a scan of the whole directory. Only absorbed rows
-- have merged_into, a few in a hundred, so the index holds only those.
-- The walk the other way, from an absorbed id to its survivor (GetAt, the
-- shield's and retention's chains), steps by child_id, the primary key.
create index if not exists directory_merged_into on directory (merged_into) where merged_into is not null;

---- create above / drop below ----

drop index if exists directory_merged_into;
