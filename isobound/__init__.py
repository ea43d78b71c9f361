"""isobound: placeholder while the core lands."""
