-- The throttle's begin and settle with one pass over each counter's entries.
--
-- 0002 split the entry arithmetic into small PL/pgSQL functions (live entries, oldest,
-- newest, held_until, settled): about eighteen calls for a login that succeeds. Each call
-- sets up an executor state of its own, and in a transaction of one statement its
-- expressions are prepared anew every time: a large part of the CPU PostgreSQL spent on a
-- login (BENCHMARKS.md). Here one function makes one pass per counter: six calls for a login
-- that succeeds (begin, two scans, settle, two settlements). Same rules, same results, same
-- lock order (pair row, address row, size rows).

-- One pass over a counter's entries: those that still count at p_now, the oldest failure
-- among them (settled, or a reservation no longer held; NULL when there is none), and the
-- row's `newest` and `held_until` for those entries.
CREATE FUNCTION throttle_scan(p_entries BIGINT[], p_now BIGINT, p_cutoff BIGINT, p_hold BIGINT,
    OUT live BIGINT[], OUT oldest BIGINT, OUT newest BIGINT, OUT held_until BIGINT)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    e BIGINT;
    start BIGINT;
    held BOOLEAN;
BEGIN
    live := '{}';
    newest := 0;
    held_until := 0;
    FOREACH e IN ARRAY p_entries LOOP
        start := e >> 20;
        held := (e & 1048575) <> 0 AND start + p_hold > p_now;
        IF start > p_cutoff OR held THEN
            live := live || e;
            newest := greatest(newest, start);
            IF held THEN
                held_until := greatest(held_until, start + p_hold);
            ELSIF oldest IS NULL OR start < oldest THEN
                oldest := start;
            END IF;
        END IF;
    END LOOP;
END $$;

-- What settling p_entry with p_outcome (0 release, 1 failure, 2 success) leaves, with the
-- row's `newest` and `held_until`: 0002's throttle_settled and its two follow-up passes in one.
CREATE FUNCTION throttle_settle_entries(p_entries BIGINT[], p_entry BIGINT, p_outcome INT,
    p_now BIGINT, p_cutoff BIGINT, p_hold BIGINT, p_limit INT,
    OUT entries BIGINT[], OUT newest BIGINT, OUT held_until BIGINT)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    e BIGINT;
    failures INT := 0;
    gone BOOLEAN := false;
    held BOOLEAN;
    oldest INT;
BEGIN
    entries := '{}';
    FOREACH e IN ARRAY p_entries LOOP
        held := (e & 1048575) <> 0 AND (e >> 20) + p_hold > p_now;
        IF NOT gone AND e = p_entry THEN
            gone := true;          -- the settled reservation itself
        ELSIF NOT ((e >> 20) > p_cutoff OR held) THEN
            NULL;                  -- expired
        ELSIF p_outcome = 2 AND NOT held THEN
            NULL;                  -- success clears the failures
        ELSE
            entries := entries || e;
            IF NOT held THEN
                failures := failures + 1;
            END IF;
        END IF;
    END LOOP;
    IF p_outcome = 1 AND (p_entry >> 20) > p_cutoff THEN
        entries := entries || ((p_entry >> 20) << 20);
        failures := failures + 1;
        -- At most p_limit failures are kept, the newest; reservations all are.
        WHILE failures > p_limit LOOP
            oldest := NULL;
            FOR i IN 1 .. cardinality(entries) LOOP
                IF NOT ((entries[i] & 1048575) <> 0 AND (entries[i] >> 20) + p_hold > p_now)
                   AND (oldest IS NULL OR entries[i] < entries[oldest]) THEN
                    oldest := i;
                END IF;
            END LOOP;
            entries := entries[:oldest - 1] || entries[oldest + 1:];
            failures := failures - 1;
        END LOOP;
    END IF;
    newest := 0;
    held_until := 0;
    FOREACH e IN ARRAY entries LOOP
        newest := greatest(newest, e >> 20);
        IF (e & 1048575) <> 0 THEN
            held_until := greatest(held_until, (e >> 20) + p_hold);
        END IF;
    END LOOP;
END $$;

-- Check both counters and, when neither is at its limit, reserve p_entry in both: one
-- statement, one transaction, rows locked pair first, then address, then the size rows.
CREATE OR REPLACE FUNCTION throttle_begin(
    p_name TEXT, p_net TEXT, p_entry BIGINT, p_now BIGINT, p_cutoff BIGINT, p_hold BIGINT,
    p_pair_limit INT, p_ip_limit INT, p_max BIGINT,
    OUT allowed BOOLEAN, OUT pair_locked BOOLEAN, OUT pair_oldest BIGINT,
    OUT ip_locked BOOLEAN, OUT ip_oldest BIGINT, OUT evicted BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    pe BIGINT[];
    ie BIGINT[];
    p RECORD;
    i RECORD;
    p_new BOOLEAN := false;
    i_new BOOLEAN := false;
    start BIGINT := p_entry >> 20;
BEGIN
    allowed := false;
    pair_locked := false;
    ip_locked := false;
    evicted := 0;
    -- A refusal needs no lock: a counter at its limit in a committed snapshot is a valid
    -- moment to refuse at, and a refusal writes nothing (so 429s cost no WAL). Fewer stored
    -- entries than the limit cannot be at it: no pass over them.
    IF p_pair_limit > 0 THEN
        SELECT t.entries INTO pe FROM throttle_pairs AS t WHERE t.name = p_name AND t.net = p_net;
        IF cardinality(pe) >= p_pair_limit THEN
            p := throttle_scan(pe, p_now, p_cutoff, p_hold);
            IF cardinality(p.live) >= p_pair_limit THEN
                pair_locked := true;
                pair_oldest := p.oldest;
            END IF;
        END IF;
    END IF;
    IF p_ip_limit > 0 THEN
        SELECT t.entries INTO ie FROM throttle_ips AS t WHERE t.net = p_net;
        IF cardinality(ie) >= p_ip_limit THEN
            i := throttle_scan(ie, p_now, p_cutoff, p_hold);
            IF cardinality(i.live) >= p_ip_limit THEN
                ip_locked := true;
                ip_oldest := i.oldest;
            END IF;
        END IF;
    END IF;
    IF pair_locked OR ip_locked THEN
        RETURN;
    END IF;
    -- Counters lost on a server crash are the last moments' attempts, not worth a WAL flush
    -- per login.
    PERFORM set_config('synchronous_commit', 'off', true);
    IF p_pair_limit > 0 THEN
        LOOP
            SELECT t.entries INTO pe FROM throttle_pairs AS t
            WHERE t.name = p_name AND t.net = p_net FOR UPDATE;
            EXIT WHEN FOUND;
            INSERT INTO throttle_pairs (name, net, entries, newest, held_until)
            VALUES (p_name, p_net, '{}', 0, 0) ON CONFLICT DO NOTHING;
            IF FOUND THEN
                pe := '{}';
                p_new := true;
                EXIT;
            END IF;
        END LOOP;
        p := throttle_scan(pe, p_now, p_cutoff, p_hold);
        IF cardinality(p.live) >= p_pair_limit THEN
            pair_locked := true;
            pair_oldest := p.oldest;
        END IF;
    END IF;
    IF p_ip_limit > 0 THEN
        LOOP
            SELECT t.entries INTO ie FROM throttle_ips AS t WHERE t.net = p_net FOR UPDATE;
            EXIT WHEN FOUND;
            INSERT INTO throttle_ips (net, entries, newest, held_until)
            VALUES (p_net, '{}', 0, 0) ON CONFLICT DO NOTHING;
            IF FOUND THEN
                ie := '{}';
                i_new := true;
                EXIT;
            END IF;
        END LOOP;
        i := throttle_scan(ie, p_now, p_cutoff, p_hold);
        IF cardinality(i.live) >= p_ip_limit THEN
            ip_locked := true;
            ip_oldest := i.oldest;
        END IF;
    END IF;
    IF pair_locked OR ip_locked THEN
        -- A refused attempt stores nothing: drop the empty rows made above.
        IF p_new THEN
            DELETE FROM throttle_pairs WHERE name = p_name AND net = p_net;
        END IF;
        IF i_new THEN
            DELETE FROM throttle_ips WHERE net = p_net;
        END IF;
        RETURN;
    END IF;
    allowed := true;
    IF p_pair_limit > 0 THEN
        UPDATE throttle_pairs
        SET entries = p.live || p_entry, newest = greatest(p.newest, start),
            held_until = greatest(p.held_until, start + p_hold)
        WHERE name = p_name AND net = p_net;
    END IF;
    IF p_ip_limit > 0 THEN
        UPDATE throttle_ips
        SET entries = i.live || p_entry, newest = greatest(i.newest, start),
            held_until = greatest(i.held_until, start + p_hold)
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
-- address it is a release). Each row is locked, settled and written by one UPDATE. A failure
-- is never lost, even if its row went meanwhile: the row is made again.
CREATE OR REPLACE FUNCTION throttle_settle(
    p_name TEXT, p_net TEXT, p_entry BIGINT, p_outcome INT, p_now BIGINT, p_cutoff BIGINT,
    p_hold BIGINT, p_pair_limit INT, p_ip_limit INT, p_max BIGINT)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    ip_outcome INT := CASE WHEN p_outcome = 2 THEN 0 ELSE p_outcome END;
    s RECORD;
    p_new BOOLEAN := false;
    i_new BOOLEAN := false;
    evicted BIGINT := 0;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    -- A counter left empty keeps its row (newest = 0: expired, the first to go when the table
    -- is full, and deleted by the next sweep), so the next login of the same name and address
    -- updates a row instead of inserting one and deleting it again.
    IF p_pair_limit > 0 THEN
        LOOP
            UPDATE throttle_pairs AS t
            SET (entries, newest, held_until) =
                (SELECT r.entries, r.newest, r.held_until
                 FROM throttle_settle_entries(t.entries, p_entry, p_outcome, p_now, p_cutoff,
                                              p_hold, p_pair_limit) AS r)
            WHERE t.name = p_name AND t.net = p_net;
            EXIT WHEN FOUND OR p_outcome <> 1;
            s := throttle_settle_entries('{}', p_entry, 1, p_now, p_cutoff, p_hold, p_pair_limit);
            EXIT WHEN cardinality(s.entries) = 0;
            INSERT INTO throttle_pairs (name, net, entries, newest, held_until)
            VALUES (p_name, p_net, s.entries, s.newest, s.held_until) ON CONFLICT DO NOTHING;
            p_new := FOUND;
            EXIT WHEN p_new;
        END LOOP;
    END IF;
    IF p_ip_limit > 0 THEN
        LOOP
            UPDATE throttle_ips AS t
            SET (entries, newest, held_until) =
                (SELECT r.entries, r.newest, r.held_until
                 FROM throttle_settle_entries(t.entries, p_entry, ip_outcome, p_now, p_cutoff,
                                              p_hold, p_ip_limit) AS r)
            WHERE t.net = p_net;
            EXIT WHEN FOUND OR ip_outcome <> 1;
            s := throttle_settle_entries('{}', p_entry, 1, p_now, p_cutoff, p_hold, p_ip_limit);
            EXIT WHEN cardinality(s.entries) = 0;
            INSERT INTO throttle_ips (net, entries, newest, held_until)
            VALUES (p_net, s.entries, s.newest, s.held_until) ON CONFLICT DO NOTHING;
            i_new := FOUND;
            EXIT WHEN i_new;
        END LOOP;
    END IF;
    IF p_new THEN
        evicted := evicted + throttle_grew('pairs', p_max, p_now, p_cutoff);
    END IF;
    IF i_new THEN
        evicted := evicted + throttle_grew('ips', p_max, p_now, p_cutoff);
    END IF;
    RETURN evicted;
END $$;

-- 0002's helpers that nothing calls now.
DROP FUNCTION throttle_lock_pair(TEXT, TEXT);
DROP FUNCTION throttle_lock_ip(TEXT);
DROP FUNCTION throttle_live(BIGINT[], BIGINT, BIGINT, BIGINT);
DROP FUNCTION throttle_oldest(BIGINT[], BIGINT, BIGINT);
DROP FUNCTION throttle_newest(BIGINT[]);
DROP FUNCTION throttle_held_until(BIGINT[], BIGINT);
DROP FUNCTION throttle_settled(BIGINT[], BIGINT, INT, BIGINT, BIGINT, BIGINT, INT);
