-- Nothing to change on SQLite. PostgreSQL's 0003 rewrote its PL/pgSQL throttle functions,
-- and SQLite's throttle is Rust code (src/login/throttle/database.rs). This version is here so
-- that both kinds keep the same schema versions, as `watchword migrate` and the start check
-- expect.
SELECT 1;
