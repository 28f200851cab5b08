-- Accounts. Migrate runs each file once, in order, in a transaction, with
-- search_path set to the store's schema. A released file is never edited
-- and nothing is ever dropped: a change is a new, higher-numbered file.

CREATE TABLE users (
    -- core.NewUserID: printable ASCII, at most 128 bytes.
    id            text        PRIMARY KEY CHECK (id <> ''),
    -- As core normalizes it: trimmed and lower-cased.
    email         text        NOT NULL CHECK (email <> ''),
    -- argon2id PHC string; NULL for an account with no password.
    password_hash text,
    roles         text[]      NOT NULL DEFAULT '{}',
    -- Application claims copied into access tokens; NULL for none.
    claims        jsonb       CHECK (claims IS NULL OR jsonb_typeof(claims) = 'object'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One account per address: core lower-cases emails before they get here,
-- and this index holds even for a writer that does not.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
