module github.com/authenik8/authenik8-go/internal/release

go 1.25.0

require golang.org/x/mod v0.38.0
