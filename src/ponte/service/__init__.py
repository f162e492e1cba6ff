"""`ponte serve`: the always-on service — scheduler, run launcher, JSON API (and the webhook intake).

Top layer, next to `ponte.cli`: it may import `ponte.runs`, `ponte.notify` and below; nothing below imports it.
"""
