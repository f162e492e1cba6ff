"""KEYENCE gateway simulator: writes line-counter TXT files the way the SICFAR gateway does (`ponte sandbox keyence`)."""
