-- Sessions behind refresh tokens (sessions.enabled). A row never holds a token: a refresh
-- token is the session id and counter under an HMAC with sessions.refresh_key_file, which is
-- kept outside the database, so a dump of this table cannot be turned into a token.
-- Times are milliseconds since the Unix epoch. `credential` is an HMAC (same key) of the
-- account's password hash at login: a changed password ends the session without the hash
-- itself being copied here.
CREATE TABLE sessions (
    id             TEXT    NOT NULL PRIMARY KEY,
    user_name      TEXT    NOT NULL,
    service        BIGINT  NOT NULL CHECK (service IN (0, 1)),
    client_id      TEXT,
    confidential   BIGINT  NOT NULL CHECK (confidential IN (0, 1)),
    scope          TEXT,
    organisation   TEXT,
    unit           TEXT,
    credential     TEXT    NOT NULL,
    counter        BIGINT  NOT NULL,
    created_at     BIGINT  NOT NULL,
    last_used_at   BIGINT  NOT NULL,
    rotated_at     BIGINT  NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT,
    -- The login passed a one-time password too: its refreshes keep amr ["pwd", "otp"].
    otp            BIGINT  NOT NULL DEFAULT 0 CHECK (otp IN (0, 1))
);
CREATE INDEX sessions_by_user ON sessions (service, user_name);

-- Revoked access tokens, published at /.well-known/revocations for verifiers that check tokens
-- locally: kind 'token' (value = jti, until its exp) or 'subject' (value = sub: tokens issued
-- at not_before or earlier, kept for one access-token lifetime). Unix seconds. A row past
-- expires_at names no token that can still be valid and is dropped.
CREATE TABLE revocations (
    kind       TEXT    NOT NULL CHECK (kind IN ('token', 'subject')),
    value      TEXT    NOT NULL,
    not_before BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (kind, value)
);
