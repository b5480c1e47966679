"""CivicGrid: big-data enabled urban grassroots governance."""

__version__ = "0.1.0"
