-- Account lifecycle: email verification, disabled accounts, and the
-- single-use link tokens of password reset and email verification.

-- Set by POST /email/verify (and a password reset by mailed link); access
-- tokens carry it as email_verified.
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;
-- A disabled account cannot log in or open sessions until enabled again.
ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false;

-- At most one live token per user and purpose: a newer one replaces the
-- older. Only the token's SHA-256 (hex) is kept; redeeming deletes the row.
CREATE TABLE link_tokens (
    user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose <> ''),
    token_hash text        NOT NULL CHECK (token_hash <> ''),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, purpose)
);
