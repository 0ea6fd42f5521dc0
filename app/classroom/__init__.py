"""Who may change what: anonymous owner tokens (classes and their teachers come later)."""
