"""isobound_torch: placeholder while the plugin lands."""
