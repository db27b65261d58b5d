"""textgate."""
