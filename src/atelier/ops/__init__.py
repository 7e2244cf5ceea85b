"""Shared image operations (colour, pyramids, tiling, adain, attention) used by several methods."""
