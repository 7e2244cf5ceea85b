"""Engines: the image optimiser and (later) the network trainer; both emit progress events."""
