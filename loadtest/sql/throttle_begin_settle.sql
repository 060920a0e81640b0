\set e random(1, 1000000)
SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint AS now \gset
SELECT allowed FROM throttle_begin('user_test', '127.0.0.1', (:now::bigint << 20) | :e, :now::bigint, :now::bigint - 900000, 120000, 5, 50, 100000);
SELECT throttle_settle('user_test', '127.0.0.1', (:now::bigint << 20) | :e, 2, :now::bigint, :now::bigint - 900000, 120000, 5, 50, 100000);
