"""Turning results into tables and pages."""
