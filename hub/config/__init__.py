"""Setting groups of the hub, one module per area, gathered by hub.settings.Settings."""
