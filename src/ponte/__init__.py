"""Ponte: declarative ELT for Brazilian ERPs."""
