-- answer: for a record view, where in CHILDREN the answer was derived from
-- (the child's last applied sequence) and what else shaped it (a guard as a
-- possible duplicate of a shielded child, a break-glass reveal), so an
-- auditor can replay exactly what was shown. No record data.
alter table audit_events add column answer jsonb;

---- create above / drop below ----

alter table audit_events drop column answer;
