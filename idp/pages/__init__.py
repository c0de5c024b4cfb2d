"""Static information pages: help, legal notices, accessibility statement."""
