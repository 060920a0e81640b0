-- Login throttle counters shared by the processes on one host (SQLite). Same layout as the
-- PostgreSQL tables; `entries` is a BLOB of little-endian i64 (time << 20 | tag).
CREATE TABLE throttle_pairs (
    name       TEXT    NOT NULL,
    net        TEXT    NOT NULL,
    entries    BLOB    NOT NULL,
    newest     INTEGER NOT NULL,
    held_until INTEGER NOT NULL,
    PRIMARY KEY (name, net)
);

CREATE TABLE throttle_ips (
    net        TEXT    NOT NULL PRIMARY KEY,
    entries    BLOB    NOT NULL,
    newest     INTEGER NOT NULL,
    held_until INTEGER NOT NULL
);

CREATE TABLE throttle_sizes (
    tbl TEXT    NOT NULL PRIMARY KEY,
    n   INTEGER NOT NULL
);
INSERT INTO throttle_sizes (tbl, n) VALUES ('pairs', 0), ('ips', 0);
