"""Adapters: each owns one outside world and implements the domain ports (see ARCHITECTURE.md)."""
