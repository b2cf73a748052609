-- The review queue ordered by score (GET /v1/reviews?order=score), paged
-- by (score, task_id) cursors: without an index each page sorts every open
-- task. review_tasks_open (004) serves the oldest-first order.
create index if not exists review_tasks_open_score on review_tasks (score desc, task_id) where status = 'open';

---- create above / drop below ----

drop index if exists review_tasks_open_score;
