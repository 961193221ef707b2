"""Views: a command's result as a Document (JSON payload, tables and CSV records)."""
