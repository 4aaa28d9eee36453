module dev.arbor/e2e/pause

go 1.23.0
