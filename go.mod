module github.com/meso-project/meso

go 1.26.8
