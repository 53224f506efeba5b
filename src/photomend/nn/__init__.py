"""Neural-network inference helpers shared by photomend's models (no torch at inference)."""
