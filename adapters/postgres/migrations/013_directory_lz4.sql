-- The directory's state and view documents are compressed with lz4, in
-- line where they then fit. 001 kept them uncompressed because pglz, the
-- only method then, cost more CPU on every rewrite than the disk it saved;
-- lz4 costs a fraction of that, and a rebuild writes every child's
-- documents at once, where each byte not written to the table, its TOAST
-- table and the WAL counts (bench replay: the load phase at 40,000
-- children from 5.1 s to 3.9 s, medians of 3). Readers see the same
-- bytes: PostgreSQL decompresses them. Rows written before keep their form
-- until they are next written.
alter table directory
    alter column state set storage extended, alter column state set compression lz4,
    alter column view set storage extended, alter column view set compression lz4;

---- create above / drop below ----

alter table directory
    alter column state set storage external, alter column state set compression default,
    alter column view set storage external, alter column view set compression default;
