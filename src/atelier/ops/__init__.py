"""Shared image operations used by several methods: colour, masks, tiling, AdaIN statistics, attention."""
