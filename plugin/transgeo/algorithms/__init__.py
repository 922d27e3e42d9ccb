"""The TransGeo Processing algorithms, one class per module."""
