-- TOTP (RFC 6238), a second factor for people of the database store.
-- secret: the account's TOTP key sealed with AES-256-GCM under keys.totp_key_file, the account
-- name as associated data ("KEYID:BASE64URL(nonce || ciphertext || tag)"), so a dump of this
-- table (or a row moved to another account) is useless without the key file.
-- last_step: the last accepted time step (Unix time / 30); a code is accepted only for a newer
-- step, written with compare-and-set, so a code works once across every replica.
CREATE TABLE totp (
    name TEXT NOT NULL PRIMARY KEY REFERENCES users (name) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    last_step INTEGER NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- Single-use recovery codes: HMAC-SHA-256 under a key derived from keys.totp_key_file, never the
-- code itself; a login that uses one deletes its row (the delete is the compare-and-set).
CREATE TABLE totp_recovery_codes (
    name TEXT NOT NULL REFERENCES totp (name) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    PRIMARY KEY (name, code_hash)
);
