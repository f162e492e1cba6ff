"""TOTVS sandbox: Protheus, a plant API and RM Educacional flavours (`ponte sandbox totvs`)."""
