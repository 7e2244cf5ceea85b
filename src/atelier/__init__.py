"""atelier: neural style transfer toolkit (public API filled in below)."""
__version__ = "0.1.0"
