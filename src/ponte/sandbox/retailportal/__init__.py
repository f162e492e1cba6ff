"""RetailPortal sandbox: the job-based ingest API target-retailportal writes to (`ponte sandbox retailportal`)."""
