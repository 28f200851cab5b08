module github.com/authenik8/authenik8-go/cmd/authenik8

go 1.25.0
