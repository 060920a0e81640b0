-- People and service accounts: what the users file holds ([[users]], [[service_accounts]]).
-- Lists and claims are JSON text (one code path for SQLite and PostgreSQL through sqlx's
-- Any driver, which carries only text, integers, floats, booleans and bytes).
CREATE TABLE users (
    name TEXT NOT NULL PRIMARY KEY,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL DEFAULT '[]',
    claims TEXT NOT NULL DEFAULT '{}',
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    id TEXT UNIQUE,
    organisations TEXT NOT NULL DEFAULT '[]',
    units TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE service_accounts (
    identifier TEXT NOT NULL PRIMARY KEY,
    pass_code_hash TEXT NOT NULL,
    roles TEXT NOT NULL DEFAULT '[]',
    claims TEXT NOT NULL DEFAULT '{}',
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    organisations TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
