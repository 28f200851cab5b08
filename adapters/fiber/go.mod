module github.com/authenik8/authenik8-go/adapters/fiber

go 1.25.0
