module github.com/meso-project/meso

go 1.26.8

require (
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	google.golang.org/protobuf v1.36.10 // indirect
)
