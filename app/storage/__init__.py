"""The database (jobs, trained models) and its schema migrations."""
