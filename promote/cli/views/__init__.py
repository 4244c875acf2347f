"""The text views, one per result type, registered with `promote.cli.render.view`."""
