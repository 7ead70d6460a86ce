-- 0005_table_upkeep: autovacuum tuned per table for a queue's churn.
--
-- A job row is written three times (insert, claim, complete) and none of
-- those updates can be HOT (status is indexed), so every job leaves two dead
-- versions in core.jobs and its indexes; the outbox gets an insert and an
-- update per event and is emptied by the relay's retention. The global
-- defaults (vacuum when 20% of a table is dead) let a table of a million
-- jobs carry 200,000 dead rows, and the claim index bloats with them. Here
-- vacuum starts after 2% (jobs) or 1% (outbox) plus a small threshold, runs
-- without the default cost sleeps' full brakes, and insert-heavy history is
-- vacuumed (visibility map, freezing) as it grows, not only at wraparound.
SET LOCAL lock_timeout = '5s';

ALTER TABLE core.jobs SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_analyze_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_vacuum_cost_limit = 2000
);

ALTER TABLE core.outbox SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_vacuum_cost_limit = 2000
);

ALTER TABLE core.job_history SET (
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.05
);
