module github.com/authenik8/authenik8-go/adapters/echo

go 1.25.0
