module github.com/authenik8/authenik8-go/redisstore

go 1.25.0
