"""Utilities every layer may import: atomic writes and locks, checks of user values, gin parsing."""
