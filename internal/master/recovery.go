package master

// recover runs once this master is elected: it loads the registry, then
// opens the gates (ready). Until the registry is durable, there is nothing
// to load.
func (s *state) recover() {
	s.serving = true
	close(s.m.ready)
}
