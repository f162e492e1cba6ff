"""Sienge sandbox: the REST API of the construction ERP (`ponte sandbox sienge`)."""
