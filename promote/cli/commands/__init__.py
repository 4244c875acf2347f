"""One module per command (or small family); each parses, calls one domain function, renders."""
