-- Which binaries this schema still serves, for rolling upgrades: a replica whose newest
-- migration is older than the database's keeps working while oldest_compatible is at most
-- its own newest version. A migration that only adds (a table, a column with a default, a
-- function) leaves oldest_compatible alone; one that changes what older binaries read or
-- write sets it to its own version, and older replicas then refuse to start (and their
-- throttle falls back) until they are upgraded. Versions 0004 and 0005 are additive.
CREATE TABLE schema_compat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    oldest_compatible BIGINT NOT NULL
);
INSERT INTO schema_compat (id, oldest_compatible) VALUES (1, 6);
