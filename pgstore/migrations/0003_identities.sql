-- Accounts linked to OAuth 2.0 and OpenID Connect identities.

-- Accounts created at a first sign-in with a provider have their email
-- verified (the provider vouched for it): users.email_verified, from 0002.

-- One account per (provider, subject); an account may have several.
CREATE TABLE identities (
    provider   text        NOT NULL CHECK (provider <> ''),
    -- The provider's stable id of the user (an ID token's sub, GitHub's
    -- numeric id), compared byte for byte.
    subject    text        NOT NULL CHECK (subject <> ''),
    user_id    text        NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject)
);

CREATE INDEX identities_user_id ON identities (user_id);
