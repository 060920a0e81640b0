-- People and service accounts: what the users file holds ([[users]], [[service_accounts]]).
-- Lists and claims are JSON text (one code path for SQLite and PostgreSQL through sqlx's
-- Any driver, which carries only text, integers, floats, booleans and bytes).
CREATE TABLE users (
    name TEXT NOT NULL PRIMARY KEY,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL DEFAULT '[]',
    claims TEXT NOT NULL DEFAULT '{}',
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    id TEXT UNIQUE,
    organisations TEXT NOT NULL DEFAULT '[]',
    units TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE service_accounts (
    identifier TEXT NOT NULL PRIMARY KEY,
    pass_code_hash TEXT NOT NULL,
    roles TEXT NOT NULL DEFAULT '[]',
    claims TEXT NOT NULL DEFAULT '{}',
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    organisations TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
