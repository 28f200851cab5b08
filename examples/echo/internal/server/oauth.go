package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/oauth"
	"github.com/authenik8/authenik8-go/redisstore"
)

// oauthConfig turns on sign-in with the providers whose variables are set:
// nil when none is.
func oauthConfig(cfg Config, log *slog.Logger) (*core.OAuthConfig, error) {
	providers := map[string]core.Provider{}
	var errs []error
	add := func(name string, vars []string, values []string, build func() (core.Provider, error)) {
		set := 0
		for _, v := range values {
			if v != "" {
				set++
			}
		}
		switch {
		case set == 0:
			return
		case set < len(values):
			errs = append(errs, fmt.Errorf("provider %s needs %s", name, strings.Join(vars, ", ")))
			return
		}
		p, err := build()
		if err != nil {
			errs = append(errs, fmt.Errorf("provider %s: %w", name, err))
			return
		}
		providers[name] = p
	}
	add("oidc", []string{"OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"}, []string{cfg.OIDCIssuer, cfg.OIDCClientID, cfg.OIDCClientSecret}, func() (core.Provider, error) {
		p, err := oauth.OIDC(cfg.OIDCIssuer, cfg.OIDCClientID, cfg.OIDCClientSecret)
		if err != nil {
			return nil, err
		}
		// Learn at start whether the issuer answers; a failure is retried
		// at the first sign-in rather than stopping the service.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Discover(ctx); err != nil {
			log.Warn("OIDC discovery failed; it is tried again at the first sign-in", "err", err)
		}
		return p, nil
	})
	add("google", []string{"GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"}, []string{cfg.GoogleClientID, cfg.GoogleClientSecret}, func() (core.Provider, error) {
		return oauth.Google(cfg.GoogleClientID, cfg.GoogleClientSecret)
	})
	add("github", []string{"GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"}, []string{cfg.GitHubClientID, cfg.GitHubClientSecret}, func() (core.Provider, error) {
		return oauth.GitHub(cfg.GitHubClientID, cfg.GitHubClientSecret)
	})
	if len(providers) > 0 && cfg.OAuthRedirectURL == "" {
		errs = append(errs, errors.New("OAUTH_REDIRECT_URL is required with an OAuth provider: the page where sign-in ends"))
	}
	if len(providers) == 0 || len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	base := strings.TrimSuffix(cfg.PublicURL, "/") + "/auth"
	for name := range providers {
		log.Info("OAuth sign-in on", "provider", name, "callback", base+"/oauth/"+name+"/callback")
	}
	return &core.OAuthConfig{
		Providers: providers, BaseURL: base, RedirectURL: cfg.OAuthRedirectURL,
		OnError: func(_ context.Context, provider, code string, cause error) {
			log.Warn("OAuth sign-in refused", "provider", provider, "error", code, "cause", cause)
		},
	}, nil
}

// newVerifier builds the verify-only Server of JWKS_URL: it checks the
// access tokens of another service with the keys that service publishes,
// and issues none.
func newVerifier(cfg Config, log *slog.Logger) (*Server, error) {
	keys, err := core.RemoteKeys(cfg.JWKSURL)
	if err != nil {
		return nil, fmt.Errorf("JWKS_URL: %w", err)
	}
	var store core.Store
	closeStore := func() {}
	if cfg.RedisURL != "" {
		rs, err := redisstore.Open(cfg.RedisURL, redisstore.Options{})
		if err != nil {
			keys.Close()
			return nil, err
		}
		store, closeStore = rs, rs.Close
		log.Info("verify-only, with the issuer's sessions in Redis: logout is seen here", "jwks", core.RedactURL(cfg.JWKSURL), "redis", core.RedactURL(cfg.RedisURL))
	} else {
		log.Warn("verify-only without REDIS_URL: a token stays valid until it expires, whether or not its session ended", "jwks", core.RedactURL(cfg.JWKSURL))
	}
	a, err := core.New(core.Config{Store: store, RemoteKeys: keys})
	if err != nil {
		keys.Close()
		closeStore()
		return nil, err
	}
	st := &stores{sessions: store, close: func() { keys.Close(); closeStore() }}
	return &Server{Auth: a, Log: log, trustedProxy: cfg.TrustedProxy, stores: st}, nil
}
