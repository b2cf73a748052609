-- Indexes for the dominant search, name and date of birth.
--
-- Directory rows are wide (they carry the view and state documents), so at
-- a million children the table is far bigger than shared_buffers, and the
-- hundred or more children sharing a date of birth sit on as many heap
-- pages. Reading each one to test its name made every search read ~150
-- pages and had concurrent searches queue on buffer eviction.
--
-- directory_search_birth carries the current-name columns, so the search's
-- first step tests names in the index (an index-only scan) and reads from
-- the table only the children that match. names (previous names) is not in
-- it: it has no length bound, and a btree entry has one.
-- directory_prev_names_birth covers the other step, the few children who
-- have previous names at all.
create index directory_search_birth on directory (birth_date)
    include (child_id, family_name, given_name, family_dm, given_dm, gender)
    where status = 'active';
create index directory_prev_names_birth on directory (birth_date)
    where status = 'active' and names <> '';

---- create above / drop below ----

drop index if exists directory_prev_names_birth;
drop index if exists directory_search_birth;
