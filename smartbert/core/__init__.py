"""Core: what every layer shares and nothing in it imports the rest of the suite or torch. Errors,
atomic file writes, versioned file formats, configuration (dataclass settings), provenance, names."""
