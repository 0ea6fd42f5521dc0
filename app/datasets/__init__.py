"""The datasets learners train on: what each one is, and loading its arrays."""
