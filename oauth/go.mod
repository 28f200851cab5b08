module github.com/authenik8/authenik8-go/oauth

go 1.25.0

require github.com/authenik8/authenik8-go/core v0.0.0-00010101000000-000000000000

require (
	github.com/coreos/go-oidc/v3 v3.21.0 // indirect
	github.com/go-jose/go-jose/v4 v4.1.8 // indirect
	github.com/golang-jwt/jwt/v5 v5.2.0 // indirect
	github.com/oauth2-proxy/mockoidc v0.0.0-20261103160011-e06ed0b7cb7f // indirect
	golang.org/x/oauth2 v0.36.0 // indirect
)

replace github.com/authenik8/authenik8-go/core => ../core
