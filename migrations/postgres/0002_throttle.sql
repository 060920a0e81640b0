-- Login throttle counters shared by every replica (PostgreSQL).
--
-- One row per counter: per (case-folded name, client network) and per client network.
-- `entries` holds one bigint per counted attempt: the attempt's start in ms since the Unix
-- epoch shifted left by 20 bits, with a random nonzero tag in the low 20 bits while the
-- attempt is in flight (a reservation) and 0 once it is a settled failure. A reservation
-- still counts after `hold` ms but no longer protects its row from eviction: an attempt
-- whose process died unsettled counts as a failure.
CREATE TABLE throttle_pairs (
    name       TEXT     NOT NULL,
    net        TEXT     NOT NULL,
    entries    BIGINT[] NOT NULL,
    newest     BIGINT   NOT NULL,
    held_until BIGINT   NOT NULL,
    PRIMARY KEY (name, net)
) WITH (fillfactor = 70);

CREATE TABLE throttle_ips (
    net        TEXT     PRIMARY KEY,
    entries    BIGINT[] NOT NULL,
    newest     BIGINT   NOT NULL,
    held_until BIGINT   NOT NULL
) WITH (fillfactor = 70);

-- Row counts of the two tables, kept exact by the functions below (recounted when full), so
-- that the bound needs no count(*) per insert.
CREATE TABLE throttle_sizes (
    tbl  TEXT   PRIMARY KEY,
    n    BIGINT NOT NULL
);
INSERT INTO throttle_sizes (tbl, n) VALUES ('pairs', 0), ('ips', 0);

-- The entries that still count at p_now.
CREATE FUNCTION throttle_live(p_entries BIGINT[], p_now BIGINT, p_cutoff BIGINT, p_hold BIGINT)
RETURNS BIGINT[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    e BIGINT;
    r BIGINT[] := '{}';
BEGIN
    FOREACH e IN ARRAY p_entries LOOP
        IF (e >> 20) > p_cutoff OR ((e & 1048575) <> 0 AND (e >> 20) + p_hold > p_now) THEN
            r := r || e;
        END IF;
    END LOOP;
    RETURN r;
END $$;

-- Oldest failure (settled, or reservation no longer held), NULL when there is none.
CREATE FUNCTION throttle_oldest(p_entries BIGINT[], p_now BIGINT, p_hold BIGINT)
RETURNS BIGINT LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    e BIGINT;
    r BIGINT;
BEGIN
    FOREACH e IN ARRAY p_entries LOOP
        IF ((e & 1048575) = 0 OR (e >> 20) + p_hold <= p_now) AND (r IS NULL OR (e >> 20) < r) THEN
            r := e >> 20;
        END IF;
    END LOOP;
    RETURN r;
END $$;

-- What settling p_entry with p_outcome (0 release, 1 failure, 2 success) leaves.
CREATE FUNCTION throttle_settled(p_entries BIGINT[], p_entry BIGINT, p_outcome INT,
                                 p_now BIGINT, p_cutoff BIGINT, p_hold BIGINT, p_limit INT)
RETURNS BIGINT[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    e BIGINT;
    r BIGINT[] := '{}';
    failures INT := 0;
    gone BOOLEAN := false;
    held BOOLEAN;
    oldest INT;
BEGIN
    FOREACH e IN ARRAY p_entries LOOP
        held := (e & 1048575) <> 0 AND (e >> 20) + p_hold > p_now;
        IF NOT gone AND e = p_entry THEN
            gone := true;          -- the settled reservation itself
        ELSIF NOT ((e >> 20) > p_cutoff OR held) THEN
            NULL;                  -- expired
        ELSIF p_outcome = 2 AND NOT held THEN
            NULL;                  -- success clears the failures
        ELSE
            r := r || e;
            IF NOT held THEN
                failures := failures + 1;
            END IF;
        END IF;
    END LOOP;
    IF p_outcome = 1 AND (p_entry >> 20) > p_cutoff THEN
        r := r || ((p_entry >> 20) << 20);
        failures := failures + 1;
        -- At most p_limit failures are kept, the newest; reservations all are.
        WHILE failures > p_limit LOOP
            oldest := NULL;
            FOR i IN 1 .. cardinality(r) LOOP
                IF NOT ((r[i] & 1048575) <> 0 AND (r[i] >> 20) + p_hold > p_now)
                   AND (oldest IS NULL OR r[i] < r[oldest]) THEN
                    oldest := i;
                END IF;
            END LOOP;
            r := r[:oldest - 1] || r[oldest + 1:];
            failures := failures - 1;
        END LOOP;
    END IF;
    RETURN r;
END $$;

-- A new row was kept in `tbl`: count it and, past p_max, drop expired rows, then evict the
-- stalest unheld ones down to p_max - p_max / 8. Returns how many rows with failures still in
-- the window were evicted. Rows locked by other transactions are skipped, never waited for.
CREATE FUNCTION throttle_grew(p_tbl TEXT, p_max BIGINT, p_now BIGINT, p_cutoff BIGINT)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    cnt BIGINT;
    target BIGINT := p_max - greatest(p_max / 8, 1);
    evicted BIGINT := 0;
BEGIN
    UPDATE throttle_sizes SET n = n + 1 WHERE tbl = p_tbl RETURNING n INTO cnt;
    IF cnt <= p_max THEN
        RETURN 0;
    END IF;
    IF p_tbl = 'pairs' THEN
        DELETE FROM throttle_pairs WHERE ctid IN (
            SELECT ctid FROM throttle_pairs WHERE newest <= p_cutoff AND held_until <= p_now
            FOR UPDATE SKIP LOCKED);
        SELECT count(*) INTO cnt FROM throttle_pairs;
        IF cnt > target THEN
            DELETE FROM throttle_pairs WHERE ctid IN (
                SELECT ctid FROM throttle_pairs WHERE held_until <= p_now
                ORDER BY newest LIMIT cnt - target FOR UPDATE SKIP LOCKED);
            GET DIAGNOSTICS evicted = ROW_COUNT;
        END IF;
    ELSE
        DELETE FROM throttle_ips WHERE ctid IN (
            SELECT ctid FROM throttle_ips WHERE newest <= p_cutoff AND held_until <= p_now
            FOR UPDATE SKIP LOCKED);
        SELECT count(*) INTO cnt FROM throttle_ips;
        IF cnt > target THEN
            DELETE FROM throttle_ips WHERE ctid IN (
                SELECT ctid FROM throttle_ips WHERE held_until <= p_now
                ORDER BY newest LIMIT cnt - target FOR UPDATE SKIP LOCKED);
            GET DIAGNOSTICS evicted = ROW_COUNT;
        END IF;
    END IF;
    UPDATE throttle_sizes SET n = cnt - evicted WHERE tbl = p_tbl;
    RETURN evicted;
END $$;

-- The row of (p_name, p_net) locked, created empty when missing; sets p_new.
CREATE FUNCTION throttle_lock_pair(p_name TEXT, p_net TEXT, OUT entries BIGINT[], OUT created BOOLEAN)
LANGUAGE plpgsql AS $$
BEGIN
    created := false;
    LOOP
        SELECT t.entries INTO entries FROM throttle_pairs AS t
        WHERE t.name = p_name AND t.net = p_net FOR UPDATE;
        IF FOUND THEN
            RETURN;
        END IF;
        INSERT INTO throttle_pairs (name, net, entries, newest, held_until)
        VALUES (p_name, p_net, '{}', 0, 0) ON CONFLICT DO NOTHING;
        IF FOUND THEN
            entries := '{}';
            created := true;
            RETURN;
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION throttle_lock_ip(p_net TEXT, OUT entries BIGINT[], OUT created BOOLEAN)
LANGUAGE plpgsql AS $$
BEGIN
    created := false;
    LOOP
        SELECT t.entries INTO entries FROM throttle_ips AS t WHERE t.net = p_net FOR UPDATE;
        IF FOUND THEN
            RETURN;
        END IF;
        INSERT INTO throttle_ips (net, entries, newest, held_until)
        VALUES (p_net, '{}', 0, 0) ON CONFLICT DO NOTHING;
        IF FOUND THEN
            entries := '{}';
            created := true;
            RETURN;
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION throttle_newest(p_entries BIGINT[]) RETURNS BIGINT
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    e BIGINT;
    r BIGINT := 0;
BEGIN
    FOREACH e IN ARRAY p_entries LOOP
        r := greatest(r, e >> 20);
    END LOOP;
    RETURN r;
END $$;

CREATE FUNCTION throttle_held_until(p_entries BIGINT[], p_hold BIGINT) RETURNS BIGINT
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    e BIGINT;
    r BIGINT := 0;
BEGIN
    FOREACH e IN ARRAY p_entries LOOP
        IF (e & 1048575) <> 0 THEN
            r := greatest(r, (e >> 20) + p_hold);
        END IF;
    END LOOP;
    RETURN r;
END $$;

-- Check both counters and, when neither is at its limit, reserve p_entry in both: one
-- statement, one transaction, rows locked pair first, then address, then the size rows.
CREATE FUNCTION throttle_begin(
    p_name TEXT, p_net TEXT, p_entry BIGINT, p_now BIGINT, p_cutoff BIGINT, p_hold BIGINT,
    p_pair_limit INT, p_ip_limit INT, p_max BIGINT,
    OUT allowed BOOLEAN, OUT pair_locked BOOLEAN, OUT pair_oldest BIGINT,
    OUT ip_locked BOOLEAN, OUT ip_oldest BIGINT, OUT evicted BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    pe BIGINT[];
    ie BIGINT[];
    p_new BOOLEAN := false;
    i_new BOOLEAN := false;
BEGIN
    pair_locked := false;
    ip_locked := false;
    evicted := 0;
    -- A refusal needs no lock: a counter at its limit in a committed snapshot is a valid
    -- moment to refuse at, and a refusal writes nothing (so 429s cost no WAL flush).
    IF p_pair_limit > 0 THEN
        SELECT t.entries INTO pe FROM throttle_pairs AS t WHERE t.name = p_name AND t.net = p_net;
        IF FOUND THEN
            pe := throttle_live(pe, p_now, p_cutoff, p_hold);
            IF cardinality(pe) >= p_pair_limit THEN
                pair_locked := true;
                pair_oldest := throttle_oldest(pe, p_now, p_hold);
            END IF;
        END IF;
    END IF;
    IF p_ip_limit > 0 THEN
        SELECT t.entries INTO ie FROM throttle_ips AS t WHERE t.net = p_net;
        IF FOUND THEN
            ie := throttle_live(ie, p_now, p_cutoff, p_hold);
            IF cardinality(ie) >= p_ip_limit THEN
                ip_locked := true;
                ip_oldest := throttle_oldest(ie, p_now, p_hold);
            END IF;
        END IF;
    END IF;
    IF pair_locked OR ip_locked THEN
        allowed := false;
        RETURN;
    END IF;
    -- Counters lost on a server crash are the last moments' attempts, not worth a WAL flush
    -- per login.
    PERFORM set_config('synchronous_commit', 'off', true);
    IF p_pair_limit > 0 THEN
        SELECT l.entries, l.created INTO pe, p_new FROM throttle_lock_pair(p_name, p_net) AS l;
        pe := throttle_live(pe, p_now, p_cutoff, p_hold);
        IF cardinality(pe) >= p_pair_limit THEN
            pair_locked := true;
            pair_oldest := throttle_oldest(pe, p_now, p_hold);
        END IF;
    END IF;
    IF p_ip_limit > 0 THEN
        SELECT l.entries, l.created INTO ie, i_new FROM throttle_lock_ip(p_net) AS l;
        ie := throttle_live(ie, p_now, p_cutoff, p_hold);
        IF cardinality(ie) >= p_ip_limit THEN
            ip_locked := true;
            ip_oldest := throttle_oldest(ie, p_now, p_hold);
        END IF;
    END IF;
    allowed := NOT (pair_locked OR ip_locked);
    IF NOT allowed THEN
        -- A refused attempt stores nothing: drop the empty rows made above.
        IF p_new THEN
            DELETE FROM throttle_pairs WHERE name = p_name AND net = p_net;
        END IF;
        IF i_new THEN
            DELETE FROM throttle_ips WHERE net = p_net;
        END IF;
        RETURN;
    END IF;
    IF p_pair_limit > 0 THEN
        pe := pe || p_entry;
        UPDATE throttle_pairs
        SET entries = pe, newest = throttle_newest(pe), held_until = throttle_held_until(pe, p_hold)
        WHERE name = p_name AND net = p_net;
    END IF;
    IF p_ip_limit > 0 THEN
        ie := ie || p_entry;
        UPDATE throttle_ips
        SET entries = ie, newest = throttle_newest(ie), held_until = throttle_held_until(ie, p_hold)
        WHERE net = p_net;
    END IF;
    IF p_new THEN
        evicted := evicted + throttle_grew('pairs', p_max, p_now, p_cutoff);
    END IF;
    IF i_new THEN
        evicted := evicted + throttle_grew('ips', p_max, p_now, p_cutoff);
    END IF;
END $$;

-- Settle the reservation p_entry: 0 release, 1 failure, 2 success (clears the pair; for the
-- address it is a release). Locks in the order begin takes them: pair row, address row, then
-- the size rows.
CREATE FUNCTION throttle_settle(
    p_name TEXT, p_net TEXT, p_entry BIGINT, p_outcome INT, p_now BIGINT, p_cutoff BIGINT,
    p_hold BIGINT, p_pair_limit INT, p_ip_limit INT, p_max BIGINT)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    pe BIGINT[];
    ie BIGINT[];
    p_found BOOLEAN := false;
    i_found BOOLEAN := false;
    p_new BOOLEAN := false;
    i_new BOOLEAN := false;
    evicted BIGINT := 0;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    -- A failure is never lost, even if its row went meanwhile: its row is made again.
    IF p_pair_limit > 0 THEN
        IF p_outcome = 1 THEN
            SELECT l.entries, l.created INTO pe, p_new FROM throttle_lock_pair(p_name, p_net) AS l;
            p_found := true;
        ELSE
            SELECT t.entries INTO pe FROM throttle_pairs AS t
            WHERE t.name = p_name AND t.net = p_net FOR UPDATE;
            p_found := FOUND;
        END IF;
    END IF;
    IF p_ip_limit > 0 THEN
        IF p_outcome = 1 THEN
            SELECT l.entries, l.created INTO ie, i_new FROM throttle_lock_ip(p_net) AS l;
            i_found := true;
        ELSE
            SELECT t.entries INTO ie FROM throttle_ips AS t WHERE t.net = p_net FOR UPDATE;
            i_found := FOUND;
        END IF;
    END IF;
    -- A counter left empty keeps its row (newest = 0: expired, the first to go when the table
    -- is full, and deleted by the next sweep), so the next login of the same name and address
    -- updates a row instead of inserting one and deleting it again.
    IF p_found THEN
        pe := throttle_settled(pe, p_entry, p_outcome, p_now, p_cutoff, p_hold, p_pair_limit);
        IF cardinality(pe) = 0 AND p_new THEN
            DELETE FROM throttle_pairs WHERE name = p_name AND net = p_net;
        ELSE
            UPDATE throttle_pairs
            SET entries = pe, newest = throttle_newest(pe), held_until = throttle_held_until(pe, p_hold)
            WHERE name = p_name AND net = p_net;
        END IF;
    END IF;
    IF i_found THEN
        ie := throttle_settled(ie, p_entry, CASE WHEN p_outcome = 2 THEN 0 ELSE p_outcome END,
                               p_now, p_cutoff, p_hold, p_ip_limit);
        IF cardinality(ie) = 0 AND i_new THEN
            DELETE FROM throttle_ips WHERE net = p_net;
        ELSE
            UPDATE throttle_ips
            SET entries = ie, newest = throttle_newest(ie), held_until = throttle_held_until(ie, p_hold)
            WHERE net = p_net;
        END IF;
    END IF;
    IF p_new AND cardinality(pe) > 0 THEN
        evicted := evicted + throttle_grew('pairs', p_max, p_now, p_cutoff);
    END IF;
    IF i_new AND cardinality(ie) > 0 THEN
        evicted := evicted + throttle_grew('ips', p_max, p_now, p_cutoff);
    END IF;
    RETURN evicted;
END $$;

-- Delete up to p_batch expired rows of each table (rows whose newest entry left the window
-- and that hold no reservation); returns how many went.
CREATE FUNCTION throttle_sweep(p_now BIGINT, p_cutoff BIGINT, p_batch INT)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    a BIGINT;
    b BIGINT;
BEGIN
    DELETE FROM throttle_pairs WHERE ctid IN (
        SELECT ctid FROM throttle_pairs WHERE newest <= p_cutoff AND held_until <= p_now
        LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS a = ROW_COUNT;
    DELETE FROM throttle_ips WHERE ctid IN (
        SELECT ctid FROM throttle_ips WHERE newest <= p_cutoff AND held_until <= p_now
        LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS b = ROW_COUNT;
    IF a > 0 THEN
        UPDATE throttle_sizes SET n = n - a WHERE tbl = 'pairs';
    END IF;
    IF b > 0 THEN
        UPDATE throttle_sizes SET n = n - b WHERE tbl = 'ips';
    END IF;
    RETURN a + b;
END $$;
