"""The declarative tap engine: a singer-sdk Tap built from `taps/<source>.yml`."""
